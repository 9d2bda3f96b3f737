"use strict";
// The wallboard's model and rendering: the board received on /supervisor (`wallboard`: the
// full board, then updates merged in), drawn as text nodes only, with times counted up here
// every second from the ISO `since` timestamps the server sends.
//
// Actions per agent and per call: push a function onto `Wallboard.agentActions` or
// `Wallboard.callActions`; each is called as fn(row, cell, socket) for every row drawn, and
// may append buttons or menus to the row's Actions cell.
const Wallboard = (() => {
  const PAGE_DEFINITIONS = JSON.parse(document.getElementById("page-definitions").textContent || "{}");
  const board = { agents: new Map(), calls: new Map(), queues: [], intervals: null, definitions: {}, settings: {} };
  const agentActions = [];
  const callActions = [];
  const COLORS = ["#1f6feb", "#bf8700", "#8250df", "#1a7f37", "#cf222e", "#0598bc", "#6e7781"];
  const STATUS_ORDER = ["on-call", "ringing", "wrap-up", "available", "away", "offline"];
  const STATUS_LABEL = { "on-call": t("On a call"), ringing: t("Ringing"), "wrap-up": t("Wrap-up"), available: t("Available"),
    away: t("Away"), offline: t("Offline") };
  const NOT_READY = "softphone-not-ready";
  const COUNT_ORDER = ["on-call", "ringing", "wrap-up", "available", NOT_READY, "away", "offline"];
  const COUNT_LABEL = { ...STATUS_LABEL, [NOT_READY]: t("Softphone not ready") };
  const MODE_LABEL = { monitor: t("listening"), coach: t("coaching"), barge: t("in the call") };
  const STATE_LABEL = { ivr: t("In the IVR"), waiting: t("Waiting"), ringing: t("Ringing an agent"), connected: t("Connected"),
    voicemail: t("Leaving voicemail") };
  let socket = null;

  // -- formatting ----------------------------------------------------------------------------
  function clock(total) {
    const s = Math.max(0, Math.floor(total));
    const h = Math.floor(s / 3600);
    const rest = `${pad2(Math.floor((s % 3600) / 60))}:${pad2(s % 60)}`;
    return h ? `${h}:${rest}` : rest;
  }
  function since(iso) {
    const at = Date.parse(iso);
    return Number.isNaN(at) ? 0 : (Date.now() - at) / 1000;
  }
  // A wait: "42s", "3m 5s", or past an hour "4h 39m".
  function wait(total) {
    const s = Math.max(0, Math.floor(total));
    return s < 3600 ? seconds(s) : `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  }
  function percent(ratio) { return ratio === null || ratio === undefined ? "—" : `${Math.round(ratio * 100)}%`; }
  function secs(value) { return value === null || value === undefined ? "—" : seconds(value); }
  function ticking(iso, format) {
    const td = el("td", iso ? format(since(iso)) : "—", "num");
    if (iso) {
      td.dataset.since = iso;
      td.dataset.format = format === wait ? "wait" : "clock";
    }
    return td;
  }
  function cell(text, field, className) {
    const td = el("td", text, className);
    if (field) td.dataset.field = field;
    return td;
  }

  // -- merging what the server sends ------------------------------------------------------------
  function apply(data) {
    if (data.full) {
      board.agents = new Map(data.agents.map((a) => [a.id, a]));
      board.calls = new Map(data.calls.map((c) => [c.call_sid, c]));
    } else {
      (data.agents || []).forEach((a) => board.agents.set(a.id, a));
      (data.agents_removed || []).forEach((id) => board.agents.delete(id));
      (data.calls || []).forEach((c) => board.calls.set(c.call_sid, c));
      (data.calls_removed || []).forEach((sid) => board.calls.delete(sid));
    }
    for (const key of ["queues", "intervals", "definitions", "settings", "day", "care"]) {
      if (key in data) board[key] = data[key];
    }
    if (data.full || data.definitions || data.settings) renderLegend();
    if (data.full || data.queues) renderQueueRows();
    if (data.full) renderAgents(null);
    else if (data.agents || data.agents_removed) renderAgents(data.agents_removed ? null : data.agents);
    if (data.full || data.calls || data.calls_removed) renderCalls();
    if (data.full || data.intervals || data.queues) renderCharts();
    if (data.full || data.care) renderCare();
  }

  // -- customer care: follow-ups and tickets ---------------------------------------------------------
  function renderCare() {
    const care = board.care || { followups: {}, tickets: {} };
    const followups = care.followups || {};
    const tickets = care.tickets || {};
    document.getElementById("care-followups").textContent = followups.open || 0;
    const oldest = document.getElementById("care-oldest");
    oldest.dataset.format = "wait";
    if (followups.oldest_since) oldest.dataset.since = followups.oldest_since;
    else delete oldest.dataset.since;
    oldest.textContent = followups.oldest_since ? wait(since(followups.oldest_since)) : "—";
    document.getElementById("care-tickets").textContent = tickets.open || 0;
    const overdue = document.getElementById("care-overdue");
    overdue.textContent = tickets.overdue || 0;
    overdue.dataset.alert = tickets.overdue ? "alert" : "ok";
    document.getElementById("care-due-soon").textContent = tickets.due_soon || 0;
  }

  // -- queues --------------------------------------------------------------------------------------
  function waitAlert(queue) {
    if (!queue.oldest_since) return "ok";
    const waited = since(queue.oldest_since);
    const limit = queue.thresholds.oldest_wait_seconds;
    if (waited > limit) return "alert";
    return waited >= (board.settings.warn_share || 0.75) * limit ? "warn" : "ok";
  }
  function levelAlert(queue) {
    const level = queue.today.service_level;
    if (level === null || level === undefined) return "none";
    return level < queue.thresholds.service_level ? "alert" : "ok";
  }
  function judge(tr, queue) {
    const wait = waitAlert(queue);
    const level = levelAlert(queue);
    tr.querySelector("[data-field=longest-wait]").dataset.alert = wait;
    tr.querySelector("[data-field=service-level]").dataset.alert = level;
    tr.dataset.alert = wait === "alert" || level === "alert" ? "alert" : wait;
  }
  function renderQueueRows() {
    const body = document.getElementById("queues");
    body.replaceChildren(...board.queues.map((q) => {
      const tr = el("tr");
      tr.dataset.queue = q.name;
      const name = cell(q.display_name, "name");
      const longest = q.oldest_since ? ticking(q.oldest_since, wait) : cell(seconds(0), null, "num");
      longest.dataset.field = "longest-wait";
      const today = q.today;
      const abandoned = cell(today.abandoned, "abandoned", "num");
      const voicemails = cell(`${today.voicemails} (${q.voicemails_unhandled})`, "voicemails", "num");
      const limits = q.thresholds;
      const edit = el("button", t("Edit"), "link small");
      edit.type = "button";
      edit.addEventListener("click", () => openThresholds(q));
      const thresholds = cell(`${seconds(limits.oldest_wait_seconds)} · ${percent(limits.service_level)} `, "thresholds", "small");
      if (limits.custom.length) thresholds.title = t("Set by a supervisor for this queue");
      thresholds.append(edit);
      tr.append(name, cell(q.waiting, "waiting", "num big"), longest, cell(q.callbacks || 0, "callbacks", "num"),
        cell(q.agents.staffed, "staffed", "num"), cell(q.agents.available, "available", "num"),
        cell(q.agents.softphone_not_ready, "softphone-not-ready", "num"),
        cell(q.agents.on_call, "on-call", "num"), cell(q.agents.wrap_up, "wrap-up", "num"), cell(q.agents.away, "away", "num"),
        cell(today.offered, "offered", "num"), cell(today.answered, "answered", "num"), abandoned,
        cell(today.short_abandoned, "short-abandoned", "num"), cell(percent(today.service_level), "service-level", "num big"),
        cell(secs(today.asa_seconds), "asa", "num"), cell(secs(today.aht_seconds), "aht", "num"),
        cell(today.callbacks_made, "callbacks-made", "num"), voicemails, thresholds);
      judge(tr, q);
      return tr;
    }));
  }

  // -- thresholds form ----------------------------------------------------------------------------
  const form = document.getElementById("thresholds");
  function openThresholds(queue) {
    form.hidden = false;
    form.elements.queue.value = queue.name;
    document.getElementById("thresholds-queue").textContent = queue.display_name;
    form.elements.oldest_wait_seconds.value = queue.thresholds.oldest_wait_seconds;
    form.elements.service_level.value = Math.round(queue.thresholds.service_level * 100);
    document.getElementById("thresholds-error").textContent = "";
    form.elements.oldest_wait_seconds.focus();
  }
  function saveThresholds(values) {
    const error = document.getElementById("thresholds-error");
    socket.emit("supervisor:thresholds", { queue: form.elements.queue.value, ...values }, (answer) => {
      if (answer && answer.ok) form.hidden = true;
      else error.textContent = (answer && answer.error) || t("Not saved");
    });
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saveThresholds({
      oldest_wait_seconds: Number(form.elements.oldest_wait_seconds.value),
      service_level: Number(form.elements.service_level.value) / 100,
    });
  });
  document.getElementById("thresholds-default").addEventListener("click", () => saveThresholds({ oldest_wait_seconds: null, service_level: null }));
  document.getElementById("thresholds-cancel").addEventListener("click", () => { form.hidden = true; });

  // -- legend -----------------------------------------------------------------------------------
  function renderLegend() {
    const list = document.getElementById("definitions");
    // The page's own definitions are in its reader's language; the feed's are English.
    const defs = { ...(board.definitions || {}), ...PAGE_DEFINITIONS };
    document.querySelectorAll("[data-def]").forEach((node) => {
      const text = defs[node.dataset.def];
      if (text) node.title = text;
    });
    const shown = [...document.querySelectorAll("thead [data-def]")];
    const seen = new Set();
    list.replaceChildren(...shown.flatMap((th) => {
      const key = th.dataset.def;
      if (seen.has(key) || !defs[key]) return [];
      seen.add(key);
      return [el("dt", th.textContent), el("dd", defs[key])];
    }));
    const s = board.settings;
    document.getElementById("legend-settings").textContent = t(
      "T = {t} s; short abandons: hung up within {short} s; FCR window {days} days; \"today\" and the intervals are in {zone}.",
      { t: s.service_level_seconds, short: s.short_abandon_seconds, days: s.fcr_days, zone: s.timezone });
    document.getElementById("board-day").textContent = board.day ? t("Today {day} · {zone}", { day: board.day, zone: s.timezone }) : "";
  }

  // -- agents ----------------------------------------------------------------------------------
  const agentRows = new Map();
  function agentRow(a) {
    const tr = el("tr");
    tr.dataset.agent = a.username;
    tr.dataset.agentId = a.id;
    tr.dataset.status = a.status;
    const who = el("td");
    who.append(el("strong", a.name), " ", el("span", a.number, "mono muted small"));
    const status = el("td");
    status.dataset.field = "status";
    status.append(el("span", STATUS_LABEL[a.status] || a.status, "status-pill"));
    if (a.reason) status.append(" ", el("span", a.reason, "muted small"));
    if (a.softphone_unreachable) { // their browser softphone cannot ring: routing skips them
      status.append(" ", el("span", t("softphone not ready — not offered calls"), "not-offered small"));
    }
    const inStatus = ticking(a.since, clock);
    inStatus.dataset.field = "in-status";
    const call = a.call;
    const current = el("td");
    current.dataset.field = "call";
    if (call) {
      current.append(el("span", call.customer || call.caller || t("unknown caller")));
      if (call.tier && call.tier !== "normal") current.append(" ", el("span", call.tier.toUpperCase(), `pill tier-${call.tier}`));
      if (call.queue) current.append(" ", el("span", call.queue, "muted small"));
    } else {
      current.append(el("span", "—", "muted"));
    }
    const talk = ticking(call && call.talk_since, clock);
    talk.dataset.field = "talk";
    const hold = call && call.on_hold ? ticking(call.hold_since, clock) : cell("", null, "num");
    hold.dataset.field = "hold";
    if (call && call.on_hold) hold.classList.add("on-hold");
    const recording = cell(call ? (call.recording_paused ? t("Paused") : call.recording ? t("Recording") : "—") : "", "recording");
    if (call && call.recording_paused) recording.classList.add("paused");
    const supervisors = cell(call ? onCall(call) : "", "supervisors");
    const actions = el("td", null, "actions");
    agentActions.forEach((fn) => fn(a, actions, socket));
    tr.append(who, status, inStatus, current, talk, hold, recording, supervisors,
      cell(a.handled_today, "handled", "num"), cell(secs(a.aht_today_seconds), "aht", "num"), actions);
    tr.hidden = a.status === "offline" && !document.getElementById("show-offline").checked;
    return tr;
  }
  function renderAgents(changed) {
    const body = document.getElementById("agents");
    if (changed) {
      for (const a of changed) {
        const old = agentRows.get(a.id);
        const tr = agentRow(a);
        agentRows.set(a.id, tr);
        if (old) old.replaceWith(tr);
        else return renderAgents(null);
      }
    } else {
      agentRows.clear();
      const rows = [...board.agents.values()].sort((x, y) => x.name.localeCompare(y.name) || x.id - y.id);
      body.replaceChildren(...rows.map((a) => {
        const tr = agentRow(a);
        agentRows.set(a.id, tr);
        return tr;
      }));
    }
    // An available agent whose softphone cannot ring is not offered calls: counted apart,
    // as in the queues' table.
    const counts = {};
    board.agents.forEach((a) => {
      const key = a.status === "available" && a.softphone_unreachable ? NOT_READY : a.status;
      counts[key] = (counts[key] || 0) + 1;
    });
    document.getElementById("agents-count").textContent = COUNT_ORDER.filter((s) => counts[s])
      .map((s) => `${counts[s]} ${COUNT_LABEL[s].toLowerCase()}`).join(" · ");
    return undefined;
  }
  document.getElementById("show-offline").addEventListener("change", () => renderAgents(null));

  // -- live calls ----------------------------------------------------------------------------------
  // The supervisors on a call: "Lead (coaching), Chief (listening)".
  function onCall(call) {
    return (call.supervisors || []).map((s) => `${s.name} (${MODE_LABEL[s.mode] || s.mode})`).join(", ");
  }
  function renderCalls() {
    const body = document.getElementById("calls");
    const calls = [...board.calls.values()].sort((x, y) => Date.parse(x.started_at) - Date.parse(y.started_at));
    const queueNames = new Map(board.queues.map((q) => [q.name, q.display_name]));
    document.getElementById("calls-count").textContent = calls.length ? `${calls.length} now` : "";
    if (!calls.length) {
      body.replaceChildren(emptyRow(9, t("No calls right now")));
      return;
    }
    body.replaceChildren(...calls.map((c) => {
      const tr = el("tr");
      tr.dataset.callSid = c.call_sid;
      tr.dataset.state = c.state;
      const state = el("td");
      state.dataset.field = "state";
      state.append(el("span", STATE_LABEL[c.state] || c.state, "state-pill"));
      const time = ticking(c.since, clock);
      time.dataset.field = "time";
      const customer = el("td");
      if (c.customer) customer.append(el("span", c.customer));
      if (c.tier && c.tier !== "normal") customer.append(" ", el("span", c.tier.toUpperCase(), `pill tier-${c.tier}`));
      const queued = c.state === "waiting" || c.state === "ringing";
      const where = c.state === "ivr" ? `${c.flow} · ${c.node}` : queued && c.priority ? t("priority {priority}", { priority: c.priority }) : "";
      const actions = el("td", null, "actions");
      callActions.forEach((fn) => fn(c, actions, socket));
      tr.append(state, time, cell(c.caller || t("withheld"), "caller", "mono"), customer,
        cell(c.queue ? queueNames.get(c.queue) || c.queue : "—", "queue"), cell(c.agent || "—", "agent"),
        cell(onCall(c), "supervisors"), cell(where, "where", "muted small"), actions);
      return tr;
    }));
  }

  // -- charts ----------------------------------------------------------------------------------------
  const charts = {};
  function chartFor(field) {
    if (charts[field]) return charts[field];
    const canvas = document.getElementById(`chart-${field}`);
    if (!canvas || typeof Chart === "undefined") return null;
    const level = field === "service_level";
    Chart.defaults.font.family = pageFont();  // canvas text: the page's fonts (CJK too)
    charts[field] = new Chart(canvas, {
      type: level ? "line" : "bar",
      data: { labels: [], datasets: [] },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: level
          ? { y: { min: 0, max: 100, ticks: { callback: (v) => `${v}%` } } }
          : { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
        spanGaps: true,
      },
    });
    return charts[field];
  }
  function renderCharts() {
    const data = board.intervals;
    if (!data) return;
    const labels = data.starts.map((iso) => iso.slice(11, 16));
    const names = new Map(board.queues.map((q) => [q.name, q.display_name]));
    const queues = Object.keys(data.queues);
    for (const field of ["offered", "answered", "abandoned", "service_level"]) {
      const chart = chartFor(field);
      if (!chart) continue;
      const level = field === "service_level";
      const datasets = queues.map((name, i) => ({
        label: names.get(name) || name,
        data: data.queues[name][field].map((v) => (level ? (v === null ? null : Math.round(v * 1000) / 10) : v)),
        backgroundColor: COLORS[i % COLORS.length],
        borderColor: COLORS[i % COLORS.length],
        borderWidth: level ? 1.5 : 0,
        pointRadius: level ? 1.5 : 0,
      }));
      if (level) {
        datasets.unshift({
          label: t("All queues"), data: data.all.service_level.map((v) => (v === null ? null : Math.round(v * 1000) / 10)),
          borderColor: "#0d1b2a", backgroundColor: "#0d1b2a", borderWidth: 3, pointRadius: 2,
        });
      }
      chart.data.labels = labels;
      chart.data.datasets = datasets;
      chart.update("none");
    }
    const s = board.settings;
    document.getElementById("charts-note").textContent = t("· {zone} · service level: answered within {t} s",
      { zone: s.timezone, t: s.service_level_seconds });
  }

  // -- every second: times count up, the oldest waits are judged again ------------------------------
  setInterval(() => {
    document.querySelectorAll("td[data-since], #care-oldest[data-since]").forEach((td) => {
      const elapsed = since(td.dataset.since);
      td.textContent = td.dataset.format === "wait" ? wait(elapsed) : clock(elapsed);
    });
    board.queues.forEach((q) => {
      const tr = document.querySelector(`#queues tr[data-queue="${CSS.escape(q.name)}"]`);
      if (tr) judge(tr, q);
    });
  }, 1000);

  return {
    board, charts, agentActions, callActions, apply,
    attach(io) { socket = io; },
    // Draw the agents and calls again (e.g. when an action hook learns something new).
    redraw() { renderAgents(null); renderCalls(); },
  };
})();
window.wallboard = Wallboard;
