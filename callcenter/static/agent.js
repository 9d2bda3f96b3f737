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
  let offer = null;
  let current = null;
  let countdown = null;
  const offered = new Map(); // call_sid -> the screen-pop, to show on the current call
  const recordings = new Map(); // call_sid -> the last `call:recording` state
  let recording; // the current call's recording: undefined (not known yet), null (none), state
  let article = null; // the article open in the knowledge panel

  const select = $("disposition");
  select.replaceChildren(el("option", "Choose…"), ...Object.entries(dispositions).map(([code, label]) => {
    const option = el("option", label);
    option.value = code;
    return option;
  }));
  select.firstChild.value = "";

  function showStatus(state) {
    const status = $("status");
    status.textContent = state.status;
    status.dataset.status = state.status;
    $("status-reason").textContent = state.reason ? `(${state.reason})` : "";
    if ((state.status === "wrap-up" || state.status === "on-call") && state.call_sid &&
        (current === null || current.call_sid !== state.call_sid)) {
      const pop = offered.get(state.call_sid) || {};
      current = { call_sid: state.call_sid, customer: pop.customer || null, from: pop.caller_number || pop.from || "",
        knowledge: pop.knowledge || [] };
      showCurrent();
    }
    if (state.status === "wrap-up") $("current-state").textContent = "wrap-up";
  }

  function showOffer(payload) {
    offer = payload;
    offered.set(payload.call_sid, payload);
    const customer = payload.customer || {};
    $("pop-name").textContent = customer.name || "Unknown caller";
    $("pop-number").textContent = payload.caller_number || payload.from || "";
    $("pop-tier").textContent = customer.tier || "";
    $("pop-language").textContent = payload.language || "";
    $("pop-account").textContent = customer.account || "—";
    $("pop-notes").textContent = customer.notes || "";
    $("pop-queue").textContent = payload.queue.display_name || "";
    $("pop-waited").textContent = seconds(payload.queue.waited_seconds);
    $("pop-ivr").replaceChildren(...payload.ivr.path.map((step) =>
      el("li", step.input ? `${step.flow}.${step.node}: ${step.input}` : `${step.flow}.${step.node}`)));
    $("pop-inputs").replaceChildren(...Object.entries(payload.ivr.inputs).flatMap(([key, value]) =>
      [el("dt", key), el("dd", value, "mono")]));
    $("pop-history").replaceChildren(...(payload.history.length ? payload.history.map((h) =>
      el("li", `${h.started_at.slice(0, 16).replace("T", " ")} · ${h.queue || "IVR"} · ${h.disposition || h.outcome || ""}${h.notes ? " — " + h.notes : ""}`))
      : [el("li", "No earlier calls", "muted")]));
    renderSuggestions($("pop-knowledge"), payload.knowledge, payload.call_sid);
    $("offer").hidden = false;
    clearInterval(countdown);
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
    $("current-name").textContent = customer.name || "Caller";
    $("current-number").textContent = current.from || "";
    const knowledge = current.knowledge || [];
    renderSuggestions($("current-knowledge"), knowledge, current.call_sid);
    $("current-knowledge-box").hidden = knowledge.length === 0;
    $("call-error").textContent = "";
    $("current").hidden = false;
    recording = recordings.has(current.call_sid) ? recordings.get(current.call_sid) : undefined;
    showRecording();
    if (recording === undefined) learnRecording(current.call_sid);
    updateSend();
  }

  function endCurrent() {
    current = null;
    $("current").hidden = true;
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
    }) : [el("li", "No suggestions", "muted")]));
  }

  // -- the call's recording -------------------------------------------------------------------

  const RECORDING_LABELS = {
    requested: "○ Starting recording", "in-progress": "● REC", paused: "❚❚ Paused",
    completed: "Recording saved", absent: "Nothing recorded", failed: "Recording failed",
  };

  function showRecording() {
    const indicator = $("rec-indicator");
    const status = recording ? recording.status : "";
    indicator.dataset.recording = status;
    indicator.textContent = RECORDING_LABELS[status] || status;
    indicator.hidden = !status;
    // Not known yet (a console reloaded mid-call): let the agent try; the server decides.
    $("rec-pause").disabled = recording !== undefined && status !== "in-progress";
    $("rec-resume").disabled = recording !== undefined && status !== "paused";
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
        $("call-error").textContent = (answer && answer.error) || "The recording could not be changed";
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
        ? `${results.length} article${results.length === 1 ? "" : "s"} for “${data.query}”`
        : `No articles match “${data.query}”`;
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
    button.title = current ? "Text the article's link to the caller" : "Only during a call";
  }

  $("kb-send").addEventListener("click", async () => {
    if (!article || !current) return;
    const status = $("kb-send-status");
    status.className = "";
    status.textContent = "Sending…";
    try {
      const answer = await api(`/api/kb/articles/${encodeURIComponent(article.id)}/send`, { call_sid: current.call_sid });
      status.textContent = answer.repeated ? `Already sent to ${answer.to}` : `Sent to ${answer.to}`;
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

  socket.on("connect", () => { $("connection").textContent = "Connected"; });
  socket.on("disconnect", () => { $("connection").textContent = "Disconnected: reconnecting…"; });
  socket.on("connect_error", (error) => {
    $("connection").textContent = connectProblem(error);
    if (error.message === "login required") location.assign("/login?next=/agent");
  });
  socket.on("agent:state", showStatus);
  socket.on("queues", renderQueues);
  socket.on("call:offer", showOffer);
  socket.on("call:ended", (data) => {
    if (offer && offer.call_sid === data.call_sid) hideOffer();
    if (current && current.call_sid === data.call_sid) $("current-state").textContent = `ended (${data.reason})`;
  });
  socket.on("call:connected", (data) => {
    if (current && current.call_sid === data.call_sid) $("current-state").textContent = "connected";
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
    socket.emit("call:accept", { call_sid: accepted.call_sid }, (answer) => {
      if (answer && answer.ok) {
        current = { call_sid: accepted.call_sid, customer: accepted.customer, from: accepted.caller_number || accepted.from,
          knowledge: accepted.knowledge || [] };
        hideOffer();
        showCurrent();
        $("current-state").textContent = "connecting";
      } else {
        hideOffer();
        $("connection").textContent = (answer && answer.error) || "Could not accept";
      }
    });
  });

  $("decline").addEventListener("click", () => {
    if (!offer) return;
    socket.emit("call:decline", { call_sid: offer.call_sid }, () => hideOffer());
  });

  function inCall(event, data) {
    if (!current) return;
    $("call-error").textContent = "";
    socket.emit(event, { call_sid: current.call_sid, ...data }, (answer) => {
      if (!answer || !answer.ok) $("call-error").textContent = (answer && answer.error) || "Failed";
      else if (event === "call:hold") $("current-state").textContent = data.hold ? "on hold" : "connected";
      else if (event === "call:transfer") $("current-state").textContent = `transferred to ${answer.queue}`;
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
  socket.on("call:consult", (payload) => {
    // Another agent brings us into their call to hand it over.
    offered.set(payload.call_sid, payload);
    current = { call_sid: payload.call_sid, customer: payload.customer, from: payload.caller_number || payload.from,
      knowledge: payload.knowledge || [] };
    showCurrent();
    $("current-state").textContent = "consulting";
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
        $("wrapup-error").textContent = (answer && answer.error) || "Could not save";
      }
    });
  });
})();
