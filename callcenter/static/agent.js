"use strict";
// Agent console: presence, the screen-pop on `call:offer`, accept/decline, the call's
// controls and recording, wrap-up, and the knowledge base (search, read, text to caller).
// Protocol: docs/agent-protocol.md. All data is rendered as text; the only HTML inserted
// is an article body, which the server renders safe (raw HTML escaped).
(() => {
  const $ = (id) => document.getElementById(id);
  const dispositions = JSON.parse($("console").dataset.dispositions || "{}");
  const socket = io("/agent", { transports: ["websocket", "polling"] });
  endOnSignOut(socket);
  window.agentSocket = socket; // care.js listens to it (follow-ups, ticket reminders)
  let offer = null;
  let current = null;
  let countdown = null;
  const offered = new Map(); // call_sid -> the screen-pop, to show on the current call
  const recordings = new Map(); // call_sid -> the last `call:recording` state
  const participantsOf = new Map(); // call_sid -> the last `call:participants` list
  let recording; // the current call's recording: undefined (not known yet), null (none), state
  let article = null; // the article open in the knowledge panel
  let myId = null; // this agent's id (from agent:state)

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
    if (window.softphone) window.softphone.presence(state.status); // softphone.js
    if ((state.status === "wrap-up" || state.status === "on-call") && state.call_sid &&
        (current === null || current.call_sid !== state.call_sid)) {
      const pop = offered.get(state.call_sid) || {};
      current = { call_sid: state.call_sid, customer: pop.customer || null, from: pop.caller_number || pop.from || "",
        knowledge: pop.knowledge || [], consulted: state.reason === "consulting" };
      showCurrent();
      setCallState(current.consulted ? "consulting" : "connected");
    }
    if (!current || current.call_sid !== state.call_sid) return;
    if (state.status === "wrap-up") setCallState("wrap-up");
    else if (state.status === "on-call" && current.consulted && state.reason !== "consulting") {
      current.consulted = false; // the other agent handed the call over to us
      setCallState("connected");
    }
  }

  // -- what the offer is: inbound call, call-back (dials the customer), consult -------------

  const OFFER_TITLES = { inbound: t("Incoming call"), callback: t("Call-back request"), consult: t("Consult"),
    outbound: t("Outbound call") };
  // An outbound call placed from a voicemail or a follow-up (Call now) is titled by it.
  function offerTitle(kind, callback) {
    if (kind === "outbound" && callback && callback.voicemail) return t("Voicemail call-back");
    if (kind === "outbound" && callback && callback.followup) return t("Follow-up call-back");
    return OFFER_TITLES[kind] || OFFER_TITLES.inbound;
  }

  function voicemailText(message) {
    const length = message.duration_seconds != null
      ? t("a {length} voicemail", { length: seconds(message.duration_seconds) }) : t("a voicemail");
    const ago = message.left_seconds_ago != null ? t(" {ago} ago", { ago: seconds(message.left_seconds_ago) }) : "";
    return t(" They left {voicemail}{ago}.", { voicemail: length, ago });
  }
  function missedText(followup) {
    const missed = followup.events ? followup.events.map(missedEventText) : followup.what || [];
    return t(" We missed them: {missed}.", { missed: missed.join("; ") || t("a missed call") });
  }

  function offerKind(payload) {
    const kind = payload.kind || "inbound";
    const callback = payload.callback || {};
    const number = callback.number || payload.caller_number || payload.from || "";
    if (kind === "outbound") {
      // A call-back placed from a voicemail or a follow-up says what it answers.
      const why = callback.voicemail ? voicemailText(callback.voicemail)
        : callback.followup ? missedText(callback.followup) : "";
      return t("You are calling {number}: your phone rings first, then the customer's.", { number }) + why;
    }
    if (kind === "callback") {
      const ago = callback.requested_seconds_ago;
      return t("Accepting dials the customer at {number}.", { number }) +
        (ago != null ? t(" They asked to be called back {ago} ago.", { ago: seconds(ago) }) : "");
    }
    if (kind === "consult") {
      const from = (payload.consult || {}).from || {};
      const who = (payload.customer || {}).name || payload.caller_number || payload.from || t("a caller");
      return t("{agent} wants to hand you their call with {who}. ", { agent: agentName(from), who }) +
        t("Accept to join the call: the caller holds while you talk to {name}.", { name: from.name || t("them") });
    }
    if (payload.transfer) {
      return t("{agent} transferred this call to you: the caller is on the line.", { agent: agentName(payload.transfer.from) });
    }
    return "";
  }

  function agentName(agent) {
    if (!agent) return t("Another agent");
    return agent.number ? `${agent.name} (${agent.number})` : agent.name;
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
    showRecording();
  }

  function showOffer(payload) {
    offer = payload;
    offered.set(payload.call_sid, payload);
    const customer = payload.customer || {};
    $("pop-name").textContent = customer.name || t("Unknown caller");
    if (window.softphone) window.softphone.caller(customer.name || payload.caller_number);
    $("pop-number").textContent = payload.caller_number || payload.from || "";
    $("pop-tier").textContent = customer.tier || "";
    $("pop-language").textContent = payload.language || "";
    $("pop-account").textContent = customer.account || "—";
    $("pop-notes").textContent = customer.notes || "";
    // Known caller: a link to the customer's file; an unknown number: create one, prefilled.
    customerLink($("pop-customer"), customer, payload.caller_number || "");
    $("pop-queue").textContent = payload.queue.display_name || "";
    const kind = payload.kind || "inbound";
    const from = (payload.consult || {}).from;
    $("offer-title").textContent = kind === "consult" ? t("Consult from {agent}", { agent: agentName(from) }) : offerTitle(kind, payload.callback);
    $("offer").dataset.kind = kind;
    $("pop-kind").textContent = offerKind(payload);
    $("pop-kind").hidden = kind === "inbound";
    $("pop-wait").hidden = kind !== "inbound";
    $("pop-waited").textContent = seconds(payload.queue.waited_seconds);
    const path = payload.ivr.path || [];
    const inputs = Object.entries(payload.ivr.inputs || {});
    $("pop-ivr").replaceChildren(...path.map((step) => {
      const label = step.label || `${step.flow}.${step.node}`;
      return el("li", step.input ? `${label}: ${step.input}` : label);
    }));
    $("pop-inputs").replaceChildren(...inputs.flatMap(([key, value]) => [el("dt", key), el("dd", value, "mono")]));
    $("pop-ivr-box").hidden = path.length === 0 && inputs.length === 0;
    $("pop-inputs-box").hidden = inputs.length === 0;
    $("pop-history").replaceChildren(...(payload.history.length ? payload.history.map((h) => {
      const what = h.disposition_label || h.disposition || h.outcome_label || h.outcome || "";
      const who = h.agent_name || h.agent;
      const rated = surveyText(h);
      const when = LOCALE === "en" ? h.started_at.slice(0, 16).replace("T", " ") : dateTime(h.started_at);
      return el("li", `${when} · ${h.queue || t("IVR")} · ${what}` +
        `${who ? " · " + who : ""}${rated ? " · CSAT " + rated : ""}${h.notes ? " — " + h.notes : ""}`);
    }) : [el("li", t("No earlier calls"), "muted")]));
    const tickets = payload.tickets || [];
    $("pop-tickets").replaceChildren(...tickets.map((ticket) => {
      const li = el("li", null, ticket.overdue ? "overdue" : "");
      const link = el("a", `#${ticket.id} ${ticket.category_label}`);
      link.href = `/tickets#${ticket.id}`;
      link.target = "_blank";
      li.append(link, ` · ${ticketStatusText(ticket.status)} · `
        + t("due {when}", { when: dateTime(ticket.due_at) }) + (ticket.overdue ? t(" (overdue)") : ""),
        el("div", ticket.description, "muted small"));
      return li;
    }));
    $("pop-tickets-box").hidden = tickets.length === 0;
    renderParticipants($("pop-participants"), kind === "consult" ? payload.participants : []);
    renderSuggestions($("pop-knowledge"), payload.knowledge, payload.call_sid);
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

  // Known caller: a link to the customer's file; an unknown number: create one, prefilled.
  function customerLink(link, customer, number) {
    link.hidden = !customer.id && !number;
    link.textContent = customer.id ? t("Open customer") : t("Create customer");
    link.href = customer.id ? `/customers/${customer.id}` : `/customers?phone=${encodeURIComponent(number)}`;
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
    const knowledge = current.knowledge || [];
    renderSuggestions($("current-knowledge"), knowledge, current.call_sid);
    $("current-knowledge-box").hidden = knowledge.length === 0;
    $("call-error").textContent = "";
    $("current").hidden = false;
    recording = recordings.has(current.call_sid) ? recordings.get(current.call_sid) : undefined;
    showRecording();
    if (recording === undefined) learnRecording(current.call_sid);
    updateSend();
    applyControls();
    document.dispatchEvent(new CustomEvent("console:call", { detail: current }));
  }

  function endCurrent() {
    if (current && offer && offer.kind === "outbound" && offer.call_sid === current.call_sid) hideOffer();
    current = null;
    document.dispatchEvent(new CustomEvent("console:call", { detail: null }));
    $("current").hidden = true;
    $("consult-status").textContent = "";
    updateSend();
  }

  // -- suggested articles (screen-pop) --------------------------------------------------------

  function renderSuggestions(list, items, callSid) {
    list.replaceChildren(...(items && items.length ? items.map((item) => {
      const li = el("li");
      const button = el("button", item.title, "link");
      button.type = "button";
      button.dataset.articleId = item.id;
      button.addEventListener("click", () => openArticle(item.id, callSid, true));
      li.append(button);
      if (item.summary) li.append(el("div", item.summary, "muted small"));
      return li;
    }) : [el("li", t("No suggestions"), "muted")]));
  }

  // -- the call's recording -------------------------------------------------------------------

  const RECORDING_LABELS = {
    requested: t("○ Starting recording"), "in-progress": t("● REC"), paused: t("❚❚ Paused"),
    completed: t("Recording saved"), absent: t("Nothing recorded"), failed: t("Recording failed"),
  };

  function showRecording() {
    const indicator = $("rec-indicator");
    const state = current ? current.state : "";
    const over = state === "wrap-up" || state === "ended" || (state || "").startsWith("transferred");
    // After the call the recording is no longer running, whatever its last event said.
    const status = recording && !(over && (recording.status === "in-progress" || recording.status === "paused"))
      ? recording.status : "";
    indicator.dataset.recording = status;
    indicator.textContent = RECORDING_LABELS[status] || status;
    indicator.hidden = !status;
    // Only while talking; not known yet (a console reloaded mid-call): let the agent try.
    const talking = (state === "connected" || state === "on hold") && !(current && current.consulted);
    $("rec-pause").disabled = !talking || (recording !== undefined && status !== "in-progress");
    $("rec-resume").disabled = !talking || (recording !== undefined && status !== "paused");
  }

  async function learnRecording(callSid) {
    // The call record says whether the call is being recorded (the events may have gone by).
    try {
      const record = await api(`/api/calls/${encodeURIComponent(callSid)}`);
      if (!current || current.call_sid !== callSid || recording !== undefined) return;
      const items = record.recordings || [];
      recording = items.length ? items[items.length - 1] : null;
      showRecording();
    } catch (error) {
      // Not visible yet (still connecting): the `call:recording` event will tell.
    }
  }

  socket.on("call:recording", (data) => {
    if (!data || !data.call_sid) return;
    recordings.set(data.call_sid, data);
    if (current && current.call_sid === data.call_sid) {
      recording = data;
      showRecording();
    }
  });

  function record(action) {
    if (!current) return;
    const callSid = current.call_sid;
    $("call-error").textContent = "";
    socket.emit("call:record", { call_sid: callSid, action }, (answer) => {
      if (answer && answer.ok) {
        const state = { call_sid: callSid, ...answer };
        recordings.set(callSid, state);
        if (current && current.call_sid === callSid) {
          recording = state;
          showRecording();
        }
      } else {
        $("call-error").textContent = (answer && answer.error) || t("The recording could not be changed");
      }
    });
  }
  $("rec-pause").addEventListener("click", () => record("pause"));
  $("rec-resume").addEventListener("click", () => record("resume"));

  // -- knowledge base ---------------------------------------------------------------------------

  // GET with the call's sid when there is one, so the lookup is linked to the call; a call
  // this agent may not see (yet: still ringing) is left out rather than failing the lookup.
  async function kbGet(path, params, callSid) {
    if (callSid) {
      try {
        return await api(`${path}?${new URLSearchParams({ ...params, call_sid: callSid })}`);
      } catch (error) {
        if (error.status !== 403) throw error;
      }
    }
    return api(`${path}?${new URLSearchParams(params)}`);
  }

  $("kb-search").addEventListener("submit", async (event) => {
    event.preventDefault();
    const query = $("kb-q").value.trim();
    if (!query) return;
    $("kb-error").textContent = "";
    const params = { q: query, limit: "10" };
    if ($("kb-lang").value) params.lang = $("kb-lang").value;
    try {
      const data = await kbGet("/api/kb/search", params, current && current.call_sid);
      const results = data.results || [];
      $("kb-summary-line").textContent = results.length
        ? (results.length === 1 ? t("{count} article for “{query}”", { count: 1, query: data.query })
          : t("{count} articles for “{query}”", { count: results.length, query: data.query }))
        : t("No articles match “{query}”", { query: data.query });
      $("kb-results").replaceChildren(...results.map((hit) => {
        const li = el("li");
        li.dataset.articleId = hit.id;
        const title = el("button", hit.title, "link");
        title.type = "button";
        title.addEventListener("click", () => openArticle(hit.id, current && current.call_sid, false));
        const snippet = el("p", null, "snippet");
        snippet.append(markedText(hit.snippet));
        li.append(title, " ", el("span", hit.language, "pill"), snippet);
        return li;
      }));
    } catch (error) {
      $("kb-error").textContent = error.message;
    }
  });

  async function openArticle(id, callSid, suggested) {
    $("kb-error").textContent = "";
    try {
      const data = await kbGet(`/api/kb/articles/${encodeURIComponent(id)}`,
        suggested ? { via: "suggestion" } : {}, callSid);
      article = data;
      $("kb-title").textContent = data.title;
      $("kb-language").textContent = data.language || "";
      $("kb-tags").textContent = (data.tags || []).join(", ");
      $("kb-summary").textContent = data.summary || "";
      $("kb-body").innerHTML = data.html; // safe HTML rendered by the server
      const link = $("kb-link");
      link.textContent = data.link || "";
      if (/^https?:\/\//i.test(data.link || "")) link.href = data.link;
      else link.removeAttribute("href");
      $("kb-send-status").textContent = "";
      $("kb-article").hidden = false;
      $("kb-article").dataset.articleId = data.id;
      updateSend();
      $("kb-article").scrollIntoView({ block: "nearest" });
    } catch (error) {
      $("kb-error").textContent = error.message;
    }
  }

  function updateSend() {
    const button = $("kb-send");
    button.disabled = !(article && current);
    button.title = current ? t("Text the article's link to the caller") : t("Only during a call");
  }

  $("kb-send").addEventListener("click", async () => {
    if (!article || !current) return;
    const status = $("kb-send-status");
    status.className = "";
    status.textContent = t("Sending…");
    try {
      const answer = await api(`/api/kb/articles/${encodeURIComponent(article.id)}/send`, { call_sid: current.call_sid });
      status.textContent = answer.repeated ? t("Already sent to {to}", { to: answer.to }) : t("Sent to {to}", { to: answer.to });
    } catch (error) {
      status.className = "error";
      status.textContent = error.message;
    }
  });
  $("kb-close").addEventListener("click", () => {
    article = null;
    $("kb-article").hidden = true;
    $("kb-body").replaceChildren();
    updateSend();
  });

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

  // -- calling out: the dial pad, and Call buttons elsewhere (`console:dial` events) ---------

  function dial(target, errorBox, placed) {
    errorBox.textContent = "";
    socket.emit("call:dial", target, (answer) => {
      if (!answer || !answer.ok) errorBox.textContent = (answer && answer.error) || t("Could not place the call");
      else if (placed) placed(answer);
    });
  }
  $("dialpad").addEventListener("submit", (event) => {
    event.preventDefault();
    dial({ number: $("dial-number").value.trim() }, $("dial-error"));
  });
  document.querySelectorAll("#dialpad-keys [data-key]").forEach((button) => {
    button.addEventListener("click", () => {
      const input = $("dial-number");
      input.value = button.dataset.key === "⌫" ? input.value.slice(0, -1) : input.value + button.dataset.key;
    });
  });
  // detail: {target, errorBox, placed}: `placed(answer)` runs once the call is placed.
  document.addEventListener("console:dial", (event) =>
    dial(event.detail.target, event.detail.errorBox || $("dial-error"), event.detail.placed));

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
