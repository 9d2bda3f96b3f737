"use strict";
// Agent console: presence, the screen-pop on `call:offer`, accept/decline, wrap-up.
// Protocol: docs/agent-protocol.md. All data is rendered as text.
(() => {
  const $ = (id) => document.getElementById(id);
  const dispositions = JSON.parse($("console").dataset.dispositions || "{}");
  const socket = io("/agent", { transports: ["websocket", "polling"] });
  let offer = null;
  let current = null;
  let countdown = null;
  const offered = new Map(); // call_sid -> the screen-pop, to show on the current call

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
      current = { call_sid: state.call_sid, customer: pop.customer || null, from: pop.caller_number || pop.from || "" };
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
    $("current").hidden = false;
  }

  socket.on("connect", () => { $("connection").textContent = "Connected"; });
  socket.on("disconnect", () => { $("connection").textContent = "Disconnected: reconnecting…"; });
  socket.on("connect_error", (error) => {
    $("connection").textContent = `Cannot connect: ${error.message}`;
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
        current = { call_sid: accepted.call_sid, customer: accepted.customer, from: accepted.caller_number || accepted.from };
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
    current = { call_sid: payload.call_sid, customer: payload.customer, from: payload.caller_number || payload.from };
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
        current = null;
        $("current").hidden = true;
        $("wrapup").reset();
      } else {
        $("wrapup-error").textContent = (answer && answer.error) || "Could not save";
      }
    });
  });
})();
