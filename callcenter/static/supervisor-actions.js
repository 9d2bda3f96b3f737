"use strict";
// Supervisor actions on the wallboard: step into a live call (Monitor, Coach, Barge, Leave),
// move a waiting caller (another queue, to the front) or take it, and set an agent's status.
// Calls are rows with data-call-sid (filled from /api/supervision/calls); agents are rows
// with data-agent-id (the board's), to which a cell of status buttons is added.
(() => {
  const socket = io("/supervisor", { transports: ["websocket", "polling"] });
  const body = document.getElementById("live-calls");
  const status = document.getElementById("supervision-status");
  const reasonInput = document.getElementById("away-reason");
  const MODES = { monitor: "Monitor", coach: "Coach", barge: "Barge" };
  const DOING = { monitor: "listening", coach: "coaching", barge: "in the call" };
  const DONE = { monitor: "You are listening to the call", coach: "You are coaching the agent",
    barge: "You joined the call" };
  let myId = null;
  let queues = [];

  function say(text, failed) {
    status.textContent = text;
    status.classList.toggle("error", Boolean(failed));
  }

  function send(event, payload, done) {
    socket.emit(event, payload, (answer) => {
      if (!answer || answer.error) {
        say((answer && answer.error) || "no answer from the server", true);
      } else {
        say(done(answer), false);
      }
      refresh();
    });
  }

  function button(label, action, disabled) {
    const b = el("button", label);
    b.type = "button";
    b.dataset.action = action;
    b.disabled = Boolean(disabled);
    return b;
  }

  function callRow(call) {
    const tr = el("tr");
    tr.dataset.callSid = call.call_sid;
    tr.dataset.callState = call.state;
    const mine = call.supervisors.find((s) => s.id === myId);
    tr.dataset.myMode = mine ? mine.mode : "";
    const who = call.customer ? `${call.customer} ${call.caller}` : call.caller;
    const on = call.supervisors.map((s) => `${s.name} (${DOING[s.mode] || s.mode})`).join(", ");
    const actions = el("td");
    const bar = el("div", null, "supervision-actions");
    if (call.state === "talking") {
      Object.entries(MODES).forEach(([mode, label]) => bar.append(button(label, mode, mine && mine.mode === mode)));
      bar.append(button("Leave", "leave", !mine));
    } else if (call.state === "waiting") {
      const select = el("select");
      select.dataset.field = "queue";
      select.addEventListener("change", () => { select.dataset.touched = "1"; });
      select.setAttribute("aria-label", "Queue");
      queues.forEach((q) => {
        const option = el("option", q.display_name);
        option.value = q.name;
        option.selected = q.name === call.queue;
        select.append(option);
      });
      const front = el("input");
      front.type = "checkbox";
      front.dataset.field = "front";
      const label = el("label", " to the front");
      label.prepend(front);
      bar.append(select, label, button("Move", "move"), button("Take", "take"));
    }
    actions.append(bar);
    tr.append(el("td", who), el("td", call.queue || ""), el("td", call.state),
      el("td", call.agent ? call.agent.name : ""), el("td", on, "supervisors"), actions);
    return tr;
  }

  async function refresh() {
    try {
      const data = await api("/api/supervision/calls");
      queues = data.queues;
      // What a supervisor has chosen in a row survives the refresh of the list.
      const chosen = new Map([...body.querySelectorAll("tr[data-call-sid]")].map((tr) => {
        const queue = tr.querySelector("[data-field=queue]");
        const front = tr.querySelector("[data-field=front]");
        return [tr.dataset.callSid, { queue: queue && queue.dataset.touched ? queue.value : null,
          front: Boolean(front && front.checked) }];
      }));
      body.replaceChildren(...data.calls.map(callRow));
      body.querySelectorAll("tr[data-call-sid]").forEach((tr) => {
        const kept = chosen.get(tr.dataset.callSid);
        const queue = tr.querySelector("[data-field=queue]");
        if (!kept || !queue) return;
        if (kept.queue) { queue.value = kept.queue; queue.dataset.touched = "1"; }
        tr.querySelector("[data-field=front]").checked = kept.front;
      });
      if (!data.calls.length) {
        const tr = el("tr");
        const td = el("td", "No calls waiting or in progress", "muted");
        td.colSpan = 6;
        tr.append(td);
        body.append(tr);
      }
    } catch (error) {
      say(`Calls could not be loaded: ${error.message}`, true);
    }
  }
  let pending = null;
  function soon() {
    clearTimeout(pending);
    pending = setTimeout(refresh, 300);
  }

  body.addEventListener("click", (event) => {
    const target = event.target.closest("button[data-action]");
    const row = target && target.closest("[data-call-sid]");
    if (!row) return;
    const call_sid = row.dataset.callSid;
    const action = target.dataset.action;
    if (action in MODES) {
      send(`supervisor:${action}`, { call_sid }, () => DONE[action]);
    } else if (action === "leave") {
      send("supervisor:leave", { call_sid }, () => "You left the call");
    } else if (action === "take") {
      send("supervisor:take", { call_sid }, () => "The call is yours: your phone rings");
    } else if (action === "move") {
      const queue = row.querySelector("[data-field=queue]").value;
      const front = row.querySelector("[data-field=front]").checked;
      const payload = { call_sid, queue };
      if (front) payload.priority = "front";
      send("supervisor:move", payload, (answer) => `Moved to ${answer.queue} (priority ${answer.priority})`);
    }
  });

  // -- agents: status buttons on each row with data-agent-id -----------------------------------
  const STATUSES = [["available", "Available"], ["away", "Away"], ["offline", "Offline"]];
  function decorate(row) {
    if (row.querySelector(".agent-status-actions")) return;
    const cell = el("td");
    const bar = el("div", null, "supervision-actions agent-status-actions");
    STATUSES.forEach(([value, label]) => {
      const b = button(label, "status");
      b.dataset.status = value;
      bar.append(b);
    });
    cell.append(bar);
    row.append(cell);
  }
  function decorateAll() {
    document.querySelectorAll("tr[data-agent-id]").forEach(decorate);
  }
  const agents = document.getElementById("agents");
  if (agents) {
    new MutationObserver(decorateAll).observe(agents, { childList: true, subtree: true });
    agents.addEventListener("click", (event) => {
      const target = event.target.closest("button[data-action=status]");
      const row = target && target.closest("[data-agent-id]");
      if (!row) return;
      const payload = { agent_id: Number(row.dataset.agentId), status: target.dataset.status };
      const reason = reasonInput ? reasonInput.value.trim() : "";
      if (payload.status === "away" && reason) payload.reason = reason;
      send("supervisor:agent-status", payload, () => `Status set: ${payload.status}`);
    });
  }

  socket.on("connect", refresh);
  ["call:participants", "queues", "agent"].forEach((name) => socket.on(name, soon));
  api("/api/me").then((me) => { myId = me.agent.id; refresh(); }).catch(() => refresh());
  decorateAll();
})();
