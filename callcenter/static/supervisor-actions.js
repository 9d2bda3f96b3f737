"use strict";
// The supervisors' actions on the wallboard, drawn into the Actions cell of each row through
// the wallboard's hooks (Wallboard.callActions, Wallboard.agentActions: fn(row, cell, socket)
// for every row drawn) and sent on the socket the wallboard passes (docs/agent-protocol.md,
// namespace /supervisor):
// - a connected call: Monitor, Coach, Barge (the mode I am in shown pressed), Leave if I am on it;
// - a waiting caller: a queue to move to, "to the front", Move, and Take;
// - an agent: Available, Away (with the reason typed above the agents table), Offline.
(() => {
  const MODES = [["monitor", t("Monitor"), t("Listen in: nobody hears you")],
    ["coach", t("Coach"), t("Only the agent hears you")], ["barge", t("Barge"), t("Join the call: everyone hears you")]];
  const DONE = { monitor: t("You are listening to the call"), coach: t("You are coaching the agent"),
    barge: t("You joined the call") };
  const STATUSES = [["available", t("Available")], ["away", t("Away")], ["offline", t("Offline")]];
  // One whole sentence per status, so that each language can order its words.
  const SET = { available: (name) => t("Set {name} available", { name }),
    away: (name) => t("Set {name} away", { name }), offline: (name) => t("Set {name} offline", { name }) };
  const NOW = { available: (name) => t("{name} is now available", { name }),
    away: (name) => t("{name} is now away", { name }), offline: (name) => t("{name} is now offline", { name }) };
  const notice = document.getElementById("supervision-status");
  const reasonInput = document.getElementById("away-reason");
  // What a supervisor chose for a waiting caller survives the redraws of the calls table.
  const chosen = new Map();
  let myId = null;
  let hideNotice = null;

  function say(text, failed) {
    notice.textContent = text;
    notice.classList.toggle("error", Boolean(failed));
    notice.hidden = false;
    clearTimeout(hideNotice);
    hideNotice = setTimeout(() => { notice.hidden = true; }, failed ? 12000 : 6000);
  }

  function send(socket, event, payload, done) {
    if (!socket || !socket.connected) {
      say(t("Not connected to the server: try again when the board is live"), true);
      return;
    }
    socket.emit(event, payload, (answer) => {
      if (!answer || answer.error) say((answer && answer.error) || t("No answer from the server"), true);
      else say(done(answer), false);
    });
  }

  function button(label, action, title) {
    const b = el("button", label);
    b.type = "button";
    b.dataset.action = action;
    if (title) b.title = title;
    return b;
  }

  // -- live calls -------------------------------------------------------------------------------
  function stepInto(call, bar, socket) {
    const mine = (call.supervisors || []).find((s) => s.id === myId);
    bar.dataset.myMode = mine ? mine.mode : "";
    MODES.forEach(([mode, label, title]) => {
      const b = button(label, mode, title);
      const current = Boolean(mine && mine.mode === mode);
      b.setAttribute("aria-pressed", String(current));
      b.disabled = current;
      b.addEventListener("click", () => send(socket, `supervisor:${mode}`, { call_sid: call.call_sid }, () => DONE[mode]));
      bar.append(b);
    });
    if (mine) {
      const leave = button(t("Leave"), "leave", t("Hang up your leg: the call goes on"));
      leave.addEventListener("click", () => send(socket, "supervisor:leave", { call_sid: call.call_sid }, () => t("You left the call")));
      bar.append(leave);
    }
  }

  function steer(call, bar, socket) {
    const kept = chosen.get(call.call_sid) || {};
    const select = el("select");
    select.dataset.field = "move-to";
    select.setAttribute("aria-label", t("Move to queue"));
    Wallboard.board.queues.forEach((q) => {
      const option = el("option", q.display_name);
      option.value = q.name;
      option.selected = q.name === (kept.queue || call.queue);
      select.append(option);
    });
    const front = el("input");
    front.type = "checkbox";
    front.dataset.field = "front";
    front.checked = Boolean(kept.front);
    const label = el("label", t(" to the front"), "inline small");
    label.prepend(front);
    const remember = () => chosen.set(call.call_sid, { queue: select.value, front: front.checked });
    select.addEventListener("change", remember);
    front.addEventListener("change", remember);
    const move = button(t("Move"), "move", t("Move the caller; they keep their time waiting"));
    move.addEventListener("click", () => {
      const payload = { call_sid: call.call_sid };
      if (select.value !== call.queue) payload.queue = select.value;
      if (front.checked) payload.priority = "front";
      if (!payload.queue && !payload.priority) {
        say(t("Choose another queue or “to the front” first"), true);
        return;
      }
      chosen.delete(call.call_sid);
      const names = new Map(Wallboard.board.queues.map((q) => [q.name, q.display_name]));
      send(socket, "supervisor:move", payload, (answer) => {
        const queue = names.get(answer.queue) || answer.queue;
        return payload.priority ? t("Moved to {queue}, at the front", { queue }) : t("Moved to {queue}", { queue });
      });
    });
    const take = button(t("Take"), "take", t("Answer this caller yourself: your phone rings"));
    take.addEventListener("click", () => send(socket, "supervisor:take", { call_sid: call.call_sid },
      () => t("The call is yours: your phone rings")));
    bar.append(select, label, move, take);
  }

  Wallboard.callActions.push((call, cell, socket) => {
    const bar = el("div", null, "supervision-actions");
    if (call.state === "connected") stepInto(call, bar, socket);
    else if (call.state === "waiting" || call.state === "ringing") steer(call, bar, socket);
    if (bar.childElementCount) cell.append(bar);
  });

  // -- agents -----------------------------------------------------------------------------------
  Wallboard.agentActions.push((agent, cell, socket) => {
    const bar = el("div", null, "supervision-actions agent-status-actions");
    // On a call their status follows the call; offline they are not at a console (one
    // set available or away there would be taken offline again by the console check).
    const why = { "on-call": t("On a call: their status follows the call"),
      offline: t("Offline: they go available or away from their console") }[agent.status];
    STATUSES.forEach(([status, label]) => {
      const b = button(label, "status", why || SET[status](agent.name));
      b.dataset.status = status;
      b.disabled = agent.status === "on-call" || (agent.status === status && status !== "away")
        || (agent.status === "offline" && status !== "offline");
      b.addEventListener("click", () => {
        const payload = { agent_id: agent.id, status };
        const reason = reasonInput.value.trim();
        if (status === "away" && reason) payload.reason = reason;
        send(socket, "supervisor:agent-status", payload,
          () => (payload.reason // only "away" carries a reason
            ? t("{name} is now away ({reason})", { name: agent.name, reason: payload.reason })
            : NOW[status](agent.name)));
      });
      bar.append(b);
    });
    cell.append(bar);
  });

  api("/api/me").then((me) => {
    myId = me.agent.id;
    Wallboard.redraw();
  }).catch(() => say(t("Could not tell who you are: reload the page"), true));
})();
