"use strict";
// Agent console: presence, the offer on `call:offer` (its screen-pop: agent-screen-pop.js),
// accept/decline, the current call, its controls, consults and wrap-up. It owns the socket
// and the current call, and starts the console's other parts with them: the knowledge panel
// (agent-knowledge.js), the call's recording (agent-recording.js) and the dial pad
// (agent-dialpad.js). Protocol: docs/agent-protocol.md. All data is rendered as text.
(() => {
  const $ = (id) => document.getElementById(id);
  const dispositions = JSON.parse($("console").dataset.dispositions || "{}");
  const socket = io("/agent", { transports: ["websocket", "polling"] });
  endOnSignOut(socket);
  window.agentSocket = socket; // care.js listens to it (follow-ups, ticket reminders)
  if (window.softphone) window.softphone.attach(socket); // softphone.js reports its state
  let offer = null;
  let current = null;
  let countdown = null;
  const offered = new Map(); // call_sid -> the screen-pop, to show on the current call
  const participantsOf = new Map(); // call_sid -> the last `call:participants` list
  let myId = null; // this agent's id (from agent:state)
  const { agentName, customerLink } = ScreenPop; // agent-screen-pop.js
  const knowledge = knowledgePanel(() => current); // agent-knowledge.js
  const recording = callRecording(socket, () => current); // agent-recording.js
  dialPad(socket); // agent-dialpad.js

  const select = $("disposition");
  select.replaceChildren(el("option", t("Choose…")), ...Object.entries(dispositions).map(([code, label]) => {
    const option = el("option", label);
    option.value = code;
    return option;
  }));
  select.firstChild.value = "";

  const CALL_STATES = { connecting: t("connecting"), connected: t("connected"), "on hold": t("on hold"),
    consulting: t("consulting"), "wrap-up": t("wrap-up"), ended: t("ended") };


  function showStatus(state) {
    myId = state.id;
    const status = $("status");
    status.textContent = agentStatusText(state.status);
    status.dataset.status = state.status;
    $("status-reason").textContent = state.reason ? `(${state.reason})` : "";
    if (window.softphone) { // softphone.js
      window.softphone.presence(state.status);
      window.softphone.offered(!state.softphone_unreachable);
    }
    if ((state.status === "wrap-up" || state.status === "on-call") && state.call_sid &&
        (current === null || current.call_sid !== state.call_sid)) {
      const pop = offered.get(state.call_sid) || {};
      current = { call_sid: state.call_sid, customer: pop.customer || null, from: pop.caller_number || pop.from || "",
        knowledge: pop.knowledge || [], consulted: state.reason === "consulting" };
      showCurrent();
      setCallState(current.consulted ? "consulting" : "connected");
    }
    if (current && current.state === "connecting" && !["ringing", "on-call", "wrap-up"].includes(state.status)) {
      endCurrent(); // her leg rang out or failed before she joined: the caller is queued again
      return;
    }
    if (!current || current.call_sid !== state.call_sid) return;
    if (state.status === "wrap-up") setCallState("wrap-up");
    else if (state.status === "on-call" && current.consulted && state.reason !== "consulting") {
      current.consulted = false; // the other agent handed the call over to us
      setCallState("connected");
    }
  }

  // -- who is on the call --------------------------------------------------------------------

  const ROLES = { caller: t("caller"), agent: t("agent"), party: t("added"), supervisor: t("supervisor") };
  const SUPERVISING = { coach: t("coaching"), barge: t("in the call"), monitor: t("listening") };
  const LEG_STATES = { connecting: t("connecting"), ringing: t("ringing"), connected: t("connected"),
    "on hold": t("on hold"), left: t("left") };

  function renderParticipants(list, items) {
    list.replaceChildren(...(items || []).map((p) => {
      const li = el("li");
      li.dataset.state = p.state;
      li.dataset.role = p.role;
      const you = p.role === "agent" && p.agent_id === myId ? t(" (you)") : "";
      const label = p.role === "agent" ? `${agentName({ name: p.name || t("Agent"), number: p.number })}${you}`
        : p.role === "supervisor" ? `${p.name || t("Supervisor")} (${SUPERVISING[p.mode] || p.mode || ""})`
        : p.role === "caller" ? (p.name ? `${p.name} ${p.number || ""}` : p.number || t("Caller")) : p.number || t("Party");
      li.append(el("span", label), el("span", ROLES[p.role] || p.role, "muted small"),
        el("span", LEG_STATES[p.state] || p.state, "state"));
      return li;
    }));
    list.parentElement.hidden = !(items && items.length);
  }

  // -- supervisors on the call: `call:supervisor` {call_sid, supervisor, mode} ----------------
  const supervisors = new Map(); // supervisor id -> {call_sid, name, mode}
  const BANNER = {
    coach: (name) => t("Coached by {name}: only you hear them", { name }),
    barge: (name) => t("{name} joined the call", { name }),
    monitor: (name) => t("{name} is listening", { name }),
  };
  function renderSupervisors() {
    const banner = $("supervisor-banner");
    const here = current ? [...supervisors.values()].filter((s) => s.call_sid === current.call_sid) : [];
    banner.replaceChildren(...here.map((s) => {
      const line = el("span", BANNER[s.mode](s.name));
      line.dataset.mode = s.mode;
      return line;
    }));
    banner.hidden = here.length === 0;
  }
  socket.on("call:supervisor", (data) => {
    if (!data || !data.supervisor) return;
    if (data.mode in BANNER) {
      supervisors.set(data.supervisor.id, { call_sid: data.call_sid, name: data.supervisor.name, mode: data.mode });
    } else {
      supervisors.delete(data.supervisor.id);
    }
    renderSupervisors();
  });

  socket.on("call:participants", (data) => {
    if (!data || !data.call_sid) return;
    participantsOf.set(data.call_sid, data.participants);
    if (offer && offer.call_sid === data.call_sid) renderParticipants($("pop-participants"), data.participants);
    if (!current || current.call_sid !== data.call_sid) return;
    renderParticipants($("participants"), data.participants);
    const caller = data.participants.find((p) => p.role === "caller");
    if (caller && !current.consulted && (current.state === "connected" || current.state === "on hold")) {
      setCallState(caller.state === "on hold" ? "on hold" : "connected");
    }
  });

  // -- the call's state and the controls it allows ------------------------------------------

  function setCallState(state) {
    if (!current) return;
    current.state = state;
    $("current-state").textContent = CALL_STATES[state]
      || (state.startsWith("transferred to ") ? t("transferred to {queue}", { queue: state.slice(15) }) : state);
    $("current").dataset.state = state;
    applyControls();
  }

  function applyControls() {
    const state = current ? current.state : "";
    const talking = state === "connected" || state === "on hold";
    const consulted = Boolean(current && current.consulted);
    const consult = current && current.consult;
    const allowed = {
      hold: state === "connected" && !consulted,
      resume: state === "on hold" && !consulted,
      hangup: talking || state === "consulting",
      "transfer-submit": talking && !consulted && !consult,
      "consult-submit": talking && !consulted && !consult,
      "complete-transfer": Boolean(consult && consult.status === "accepted"),
      "cancel-consult": Boolean(consult),
      "add-submit": talking && !consulted,
      "wrapup-submit": !consulted,
    };
    for (const [id, on] of Object.entries(allowed)) $(id).disabled = !on;
    $("hangup").textContent = state === "consulting" ? t("Leave consult") : t("Hang up");
    recording.show();
  }

  function showOffer(payload) {
    offer = payload;
    offered.set(payload.call_sid, payload);
    const customer = payload.customer || {};
    if (window.softphone) window.softphone.caller(customer.name || payload.caller_number);
    ScreenPop.fill(payload);
    const kind = payload.kind || "inbound";
    renderParticipants($("pop-participants"), kind === "consult" ? payload.participants : []);
    knowledge.renderSuggestions($("pop-knowledge"), payload.knowledge, payload.call_sid);
    $("offer").hidden = false;
    $("accept").hidden = $("decline").hidden = kind === "outbound";
    clearInterval(countdown);
    $("offer-countdown").textContent = "";
    if (kind === "outbound") {
      // The agent placed it: nothing to accept; the record stays up during the call.
      $("dial-error").textContent = "";
      current = { call_sid: payload.call_sid, customer: payload.customer, from: payload.caller_number || payload.from,
        knowledge: payload.knowledge || [], consulted: false, state: "connecting" };
      showCurrent();
      setCallState("connecting");
      return;
    }
    if (payload.expires_at) {
      const ends = Date.parse(payload.expires_at);
      const tick = () => { $("offer-countdown").textContent = seconds((ends - Date.now()) / 1000); };
      tick();
      countdown = setInterval(tick, 500);
    }
  }

  function hideOffer() {
    offer = null;
    clearInterval(countdown);
    $("offer").hidden = true;
  }

  function showCurrent() {
    const customer = current.customer || {};
    $("consult-status").textContent = "";
    renderParticipants($("participants"), participantsOf.get(current.call_sid) || []);
    renderSupervisors();
    $("current-name").textContent = customer.name || t("Caller");
    $("current-number").textContent = current.from || "";
    customerLink($("current-customer"), customer, current.from || "");
    const suggested = current.knowledge || [];
    knowledge.renderSuggestions($("current-knowledge"), suggested, current.call_sid);
    $("current-knowledge-box").hidden = suggested.length === 0;
    $("call-error").textContent = "";
    $("current").hidden = false;
    recording.follow(current.call_sid);
    knowledge.updateSend();
    applyControls();
    document.dispatchEvent(new CustomEvent("console:call", { detail: current }));
  }

  function endCurrent() {
    if (current && offer && offer.kind === "outbound" && offer.call_sid === current.call_sid) hideOffer();
    current = null;
    document.dispatchEvent(new CustomEvent("console:call", { detail: null }));
    $("current").hidden = true;
    $("consult-status").textContent = "";
    knowledge.updateSend();
  }

  socket.on("connect", () => { $("connection").textContent = t("Connected"); });
  socket.on("disconnect", () => { $("connection").textContent = t("Disconnected: reconnecting…"); });
  socket.on("connect_error", (error) => {
    $("connection").textContent = connectProblem(error);
    if (error.message === "login required") location.assign("/login?next=/agent");
  });
  socket.on("agent:state", showStatus);
  socket.on("queues", renderQueues);
  socket.on("call:offer", showOffer);
  socket.on("call:ended", (data) => {
    [...supervisors].forEach(([id, s]) => { if (s.call_sid === data.call_sid) supervisors.delete(id); });
    renderSupervisors();
    if (offer && offer.call_sid === data.call_sid) hideOffer();
    if (current && current.call_sid === data.call_sid && current.state !== "wrap-up") setCallState("ended");
  });
  socket.on("call:connected", (data) => {
    if (current && current.call_sid === data.call_sid && current.state === "connecting") setCallState("connected");
  });

  document.querySelectorAll("[data-set-status]").forEach((button) => {
    button.addEventListener("click", () => {
      socket.emit("agent:status", { status: button.dataset.setStatus }, (answer) => {
        if (answer && answer.error) $("connection").textContent = answer.error;
      });
    });
  });

  $("accept").addEventListener("click", () => {
    if (!offer) return;
    const accepted = offer;
    const consult = accepted.kind === "consult";
    socket.emit(consult ? "call:consult-accept" : "call:accept", { call_sid: accepted.call_sid }, (answer) => {
      if (answer && answer.ok) {
        current = { call_sid: accepted.call_sid, customer: accepted.customer, from: accepted.caller_number || accepted.from,
          knowledge: accepted.knowledge || [], consulted: consult, state: "connecting" };
        if (consult && !participantsOf.has(accepted.call_sid)) participantsOf.set(accepted.call_sid, accepted.participants);
        hideOffer();
        showCurrent();
        setCallState(consult ? "consulting" : "connecting");
        if (consult) $("consult-status").textContent = t("In a consult with {agent}", { agent: agentName(accepted.consult.from) });
      } else {
        hideOffer();
        $("connection").textContent = (answer && answer.error) || t("Could not accept");
      }
    });
  });

  $("decline").addEventListener("click", () => {
    if (!offer) return;
    const event = offer.kind === "consult" ? "call:consult-decline" : "call:decline";
    socket.emit(event, { call_sid: offer.call_sid }, () => hideOffer());
  });

  function inCall(event, data) {
    if (!current) return;
    $("call-error").textContent = "";
    socket.emit(event, { call_sid: current.call_sid, ...data }, (answer) => {
      if (!answer || !answer.ok) $("call-error").textContent = (answer && answer.error) || t("Failed");
      else if (event === "call:hold") setCallState(data.hold ? "on hold" : "connected");
      else if (event === "call:transfer") setCallState(`transferred to ${answer.queue}`);
    });
  }
  $("hold").addEventListener("click", () => inCall("call:hold", { hold: true }));
  $("resume").addEventListener("click", () => inCall("call:hold", { hold: false }));
  $("hangup").addEventListener("click", () => inCall("call:hangup", {}));
  $("transfer").addEventListener("submit", (event) => {
    event.preventDefault();
    const number = $("transfer-agent").value.trim();
    inCall("call:transfer", number ? { agent_number: number } : { queue: $("transfer-queue").value });
  });
  $("consult").addEventListener("submit", (event) => {
    event.preventDefault();
    inCall("call:consult", { agent_number: $("consult-agent").value.trim() });
  });
  $("complete-transfer").addEventListener("click", () => inCall("call:complete-transfer", {}));
  $("cancel-consult").addEventListener("click", () => inCall("call:cancel-consult", {}));
  // Another agent offers us their call (warm transfer): shown like an offer, accept to join.
  socket.on("call:consult", showOffer);

  const CONSULT_NEWS = {
    offered: (to) => t("Waiting for {to} to accept the consult…", { to }),
    accepted: (to) => t("{to} accepted: talk, then Complete transfer or Cancel consult", { to }),
    declined: (to) => t("{to} declined the consult", { to }),
    "no answer": (to) => t("{to} did not answer the consult", { to }),
    failed: (to) => t("{to} could not be connected", { to }),
    left: (to) => t("{to} left the consult", { to }),
    cancelled: () => t("Consult cancelled"),
    "caller left": () => t("The caller hung up"),
    completed: (to) => t("Call handed over to {to}", { to }),
  };

  socket.on("call:consult-status", (data) => {
    if (!data || !data.call_sid) return;
    const news = CONSULT_NEWS[data.status] || (() => data.status);
    const to = agentName(data.to);
    if (data.to && data.to.id === myId) {
      // We are the consulted agent.
      if (data.status === "offered" || data.status === "accepted") return;
      if (offer && offer.call_sid === data.call_sid) {
        hideOffer();
        $("connection").textContent = t("The consult from {agent} ended ({status})", { agent: agentName(data.from), status: data.status });
      }
      if (current && current.call_sid === data.call_sid && current.consulted) {
        if (data.status === "completed") {
          current.consulted = false;
          $("consult-status").textContent = t("{agent} handed the call over to you", { agent: agentName(data.from) });
          setCallState("connected");
        } else {
          endCurrent();
          $("connection").textContent = t("The consult from {agent} ended ({status})", { agent: agentName(data.from), status: data.status });
        }
      }
      return;
    }
    if (!current || current.call_sid !== data.call_sid) return;
    const open = data.status === "offered" || data.status === "accepted";
    current.consult = open ? { status: data.status, to: data.to } : null;
    $("consult-status").textContent = news(to);
    applyControls();
  });
  $("add-party").addEventListener("submit", (event) => {
    event.preventDefault();
    inCall("call:add", { number: $("party-number").value.trim() });
  });

  $("wrapup").addEventListener("submit", (event) => {
    event.preventDefault();
    if (!current) return;
    $("wrapup-error").textContent = "";
    socket.emit("call:wrapup", { call_sid: current.call_sid, disposition: select.value, notes: $("notes").value }, (answer) => {
      if (answer && answer.ok) {
        endCurrent();
        $("wrapup").reset();
        refreshRecentCalls();
      } else {
        $("wrapup-error").textContent = (answer && answer.error) || t("Could not save");
      }
    });
  });
})();
