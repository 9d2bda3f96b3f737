"use strict";
// Reports page: queue and agent tables, charts (Chart.js from npm), staffing advice, CSV
// links. The period comes from the form, and from the address (?from=&to=&interval=&queue=).
(() => {
  const form = document.getElementById("period");
  const staffingForm = document.getElementById("staffing-form");
  const errorBox = document.getElementById("report-error");
  const charts = {};
  let agentRows = [];

  // Fields shown as percentages: the server's list ("percentages" of each report).
  const percentages = new Set();
  const QUEUE_COLUMNS = ["offered", "answered", "answered_in_sl", "abandoned", "short_abandoned",
    "callbacks_requested", "callbacks_made", "voicemails", "service_level", "asa_seconds", "aht_seconds",
    "abandon_rate", "longest_wait_seconds", "csat_average"];
  const AGENT_COLUMNS = ["handled", "outbound", "outbound_talk_seconds", "aht_seconds", "talk_seconds", "hold_seconds", "wrapup_seconds",
    "occupancy", "fcr", "csat_average", "transfers_out", "offers_missed", "offers_declined"];
  const RANKED = ["aht_seconds", "occupancy", "fcr", "csat_average"];
  const STAFFING_COLUMNS = ["calls", "aht_seconds", "traffic_erlangs", "service_level_target", "agents_needed",
    "expected_service_level", "expected_asa_seconds", "expected_occupancy", "agents_logged_in",
    "service_level_logged_in"];
  const LABELS = {
    interval_start: t("Interval"), queue: t("Queue"), offered: t("Offered"), answered: t("Answered"),
    answered_in_sl: t("In SL"), abandoned: t("Abandoned"), short_abandoned: t("Short abandons"),
    callbacks_requested: t("Call-backs asked"), callbacks_made: t("Call-backs made"), voicemails: t("Voicemails"),
    service_level: t("Service level"), asa_seconds: t("ASA"), aht_seconds: t("AHT"), abandon_rate: t("Abandon rate"),
    longest_wait_seconds: t("Longest wait"), csat_average: t("CSAT"), username: t("Agent"), handled: t("Handled"),
    outbound: t("Outbound"), outbound_talk_seconds: t("Outbound talk"),
    talk_seconds: t("Talk"), hold_seconds: t("Hold"), wrapup_seconds: t("Wrap-up"), occupancy: t("Occupancy"),
    fcr: t("FCR"), transfers_out: t("Transfers out"), offers_missed: t("Missed"), offers_declined: t("Declined"),
    calls: t("Calls"), traffic_erlangs: t("Erlangs"), service_level_target: t("Target"),
    agents_needed: t("Agents needed"), expected_service_level: t("Expected SL"),
    expected_asa_seconds: t("Expected ASA"), expected_occupancy: t("Expected occupancy"),
    agents_logged_in: t("Logged in"), service_level_logged_in: t("SL with those logged in"),
    asa_logged_in_seconds: t("ASA with those logged in"), csat_responses: t("CSAT answers"),
    agent_id: t("Agent id"), name: t("Name"), ranks: t("Ranks"), aht_seconds_rank: t("AHT rank"),
    occupancy_rank: t("Occupancy rank"), fcr_rank: t("FCR rank"), csat_average_rank: t("CSAT rank"),
  };
  // Each report's definitions: reports that share a field name (AHT, interval, queue, CSAT)
  // may define it their own way.
  const definitions = { queues: {}, agents: {}, staffing: {} };
  const SECTIONS = { queues: t("Queues"), agents: t("Agents"), staffing: t("Staffing advice") };
  function learn(report, body) {
    definitions[report] = body.definitions;
    body.percentages.forEach((name) => percentages.add(name));
  }

  function show(name, value) {
    if (value === null || value === undefined) return "–";
    if (percentages.has(name)) return `${(value * 100).toFixed(1)} %`;
    if (name.endsWith("_seconds")) return value >= 60 ? seconds(value) : `${value.toFixed(1)}s`;
    if (typeof value === "number" && !Number.isInteger(value)) return value.toFixed(2);
    return String(value);
  }
  function when(iso, interval) {
    return interval === "1d" ? iso.slice(0, 10) : `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
  }
  function header(id, names, first, report) {
    const defs = definitions[report];
    const tr = el("tr");
    first.forEach((name) => tr.append(el("th", LABELS[name] || name)));
    names.forEach((name) => {
      const th = el("th", LABELS[name] || name, "num");
      const text = name.endsWith("_rank") ? `${defs.ranks || ""} ${defs[name.replace(/_rank$/, "")] || ""}`.trim()
        : defs[name];
      if (text) th.title = text;
      tr.append(th);
    });
    document.getElementById(id).replaceChildren(tr);
  }
  function row(values, names, record) {
    const tr = el("tr");
    values.forEach((v) => tr.append(el("td", v)));
    names.forEach((name) => {
      const td = el("td", show(name, record[name]), "num");
      td.dataset.field = name;
      tr.append(td);
    });
    return tr;
  }
  function params(data) {
    const query = new URLSearchParams();
    Object.entries(data).forEach(([k, v]) => { if (v !== "" && v !== null && v !== undefined) query.set(k, v); });
    return query.toString();
  }
  async function getJson(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
    return body;
  }
  function chart(id, config) {
    if (charts[id]) charts[id].destroy();
    Chart.defaults.font.family = pageFont();  // canvas text: the page's fonts (CJK too)
    charts[id] = new Chart(document.getElementById(id), config);
  }
  function lineChart(id, labels, sets, percent) {
    chart(id, {
      type: "line",
      data: { labels, datasets: sets.map(([label, data]) => ({ label, data, spanGaps: false, tension: 0.2 })) },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, ...(percent ? { max: 1, ticks: { callback: (v) => `${v * 100}%` } } : {}) } },
      },
    });
  }
  // Queues by their names (the form's choices); the CSV files keep the codes.
  const queueNames = Object.fromEntries([...document.querySelectorAll("select[name=queue] option")]
    .filter((option) => option.value).map((option) => [option.value, option.textContent]));
  const queueName = (code) => (code === null ? t("All") : queueNames[code] || code);
  function byQueue(rows, field) {
    const queues = [...new Set(rows.map((r) => r.queue))];
    return queues.map((q) => [queueName(q), rows.filter((r) => r.queue === q).map((r) => r[field])]);
  }

  function renderDefinitions() {
    document.getElementById("definitions").replaceChildren(...Object.entries(SECTIONS).flatMap(([report, title]) => {
      const list = el("dl", null, "facts small");
      list.replaceChildren(...Object.entries(definitions[report]).flatMap(([name, text]) =>
        [el("dt", LABELS[name] || name), el("dd", text)]));
      return [el("h3", title), list];
    }));
  }

  function renderQueues(body, interval) {
    learn("queues", body);
    header("totals-head", QUEUE_COLUMNS, ["queue"], "queues");
    const totals = [...body.totals.queues, body.totals.all];
    document.getElementById("totals").replaceChildren(...totals.map((r) =>
      row([queueName(r.queue)], QUEUE_COLUMNS, r)));
    header("rows-head", QUEUE_COLUMNS, ["interval_start", "queue"], "queues");
    document.getElementById("rows").replaceChildren(...body.rows.map((r) =>
      row([when(r.interval_start, interval), queueName(r.queue)], QUEUE_COLUMNS, r)));
    const labels = [...new Set(body.rows.map((r) => when(r.interval_start, interval)))];
    const offered = byQueue(body.rows, "offered");
    chart("chart-volume", {
      type: "bar",
      data: {
        labels,
        datasets: [
          { label: LABELS.offered, data: labels.map((_, i) => offered.reduce((s, [, d]) => s + d[i], 0)) },
          ...["answered", "abandoned", "callbacks_requested"].map((f) => ({
            label: LABELS[f],
            data: labels.map((_, i) => byQueue(body.rows, f).reduce((s, [, d]) => s + d[i], 0)),
          })),
        ],
      },
      options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true } } },
    });
    lineChart("chart-sl", labels, byQueue(body.rows, "service_level"), percentages.has("service_level"));
    lineChart("chart-asa", labels, byQueue(body.rows, "asa_seconds"), percentages.has("asa_seconds"));
    lineChart("chart-abandon", labels, byQueue(body.rows, "abandon_rate"), percentages.has("abandon_rate"));
  }

  function renderAgents(body) {
    learn("agents", body);
    agentRows = body.rows;
    const rankNames = RANKED.map((n) => `${n}_rank`);
    header("agents-head", [...AGENT_COLUMNS, ...rankNames], ["username"], "agents");
    document.getElementById("agents").replaceChildren(...agentRows.map((r) => {
      const flat = { ...r };
      RANKED.forEach((n) => { flat[`${n}_rank`] = r.ranks ? r.ranks[n] : null; });
      const tr = row([r.name || r.username], [...AGENT_COLUMNS, ...rankNames], flat);
      tr.dataset.agent = r.username;
      return tr;
    }));
    if (!agentRows.length) {
      document.getElementById("agents").replaceChildren(emptyRow(AGENT_COLUMNS.length + 5, t("No agent worked in this period.")));
    }
    renderAgentChart();
  }
  function renderAgentChart() {
    const metric = document.getElementById("agent-metric").value;
    const ranked = agentRows.filter((r) => r[metric] !== null && r.handled > 0)
      .sort((a, b) => ((a.ranks && a.ranks[metric]) ?? 0) - ((b.ranks && b.ranks[metric]) ?? 0));
    chart("chart-agents", {
      type: "bar",
      data: {
        labels: ranked.map((r) => r.name || r.username),
        datasets: [{ label: t("{metric} (worst to best among peers)", { metric: LABELS[metric] }), data: ranked.map((r) => r[metric]) }],
      },
      options: { animation: false, responsive: true, maintainAspectRatio: false, indexAxis: "y", scales: { x: { beginAtZero: true } } },
    });
  }

  function renderStaffing(body) {
    learn("staffing", body);
    header("staffing-head", STAFFING_COLUMNS, ["interval_start", "queue"], "staffing");
    document.getElementById("staffing").replaceChildren(...body.rows.map((r) =>
      row([when(r.interval_start, body.interval), queueName(r.queue)], STAFFING_COLUMNS, r)));
    const labels = [...new Set(body.rows.map((r) => when(r.interval_start, body.interval)))];
    const sum = (field) => labels.map((_, i) => byQueue(body.rows, field).reduce((s, [, d]) => s + (d[i] || 0), 0));
    const loggedIn = labels.map((label) => {
      const first = body.rows.find((r) => when(r.interval_start, body.interval) === label);
      return first ? first.agents_logged_in : 0;
    });
    chart("chart-staffing", {
      type: "bar",
      data: {
        labels,
        datasets: [
          { label: t("agents needed (all queues)"), data: sum("agents_needed") },
          { type: "line", label: t("logged in (with the first queue's skills)"), data: loggedIn },
        ],
      },
      options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true } } },
    });
    renderDefinitions();
  }

  function period() {
    const data = Object.fromEntries(new FormData(form));
    return { from: data.from, to: data.to, interval: data.interval, queue: data.queue };
  }
  function setLinks(p) {
    const base = params({ from: p.from, to: p.to });
    document.getElementById("csv-queues").href = `/api/reports/queues?${params(p)}&format=csv`;
    document.getElementById("csv-agents").href = `/api/reports/agents?${base}&format=csv`;
    document.getElementById("csv-ivr").href = `/api/reports/ivr?${base}&format=csv`;
    document.getElementById("ivr-link").href = `/reports/ivr?${base}`;
    const s = Object.fromEntries(new FormData(staffingForm));
    document.getElementById("csv-staffing").href = `/api/reports/staffing?${params({ ...s, queue: p.queue })}&format=csv`;
  }
  async function load() {
    const p = period();
    errorBox.textContent = "";
    setLinks(p);
    history.replaceState(null, "", `/reports?${params(p)}`);
    try {
      const [queues, agents] = await Promise.all([
        getJson(`/api/reports/queues?${params(p)}`),
        getJson(`/api/reports/agents?${params({ from: p.from, to: p.to })}`),
      ]);
      renderQueues(queues, p.interval);
      renderAgents(agents);
      await loadStaffing();
      document.body.dataset.loaded = "true";
    } catch (error) {
      errorBox.textContent = error.message;
    }
  }
  async function loadStaffing() {
    const s = Object.fromEntries(new FormData(staffingForm));
    setLinks(period());
    renderStaffing(await getJson(`/api/reports/staffing?${params({ ...s, queue: period().queue })}`));
  }

  const query = new URLSearchParams(location.search);
  const today = form.dataset.today; // the center's today, not the browser's
  form.elements.from.value = query.get("from") || today;
  form.elements.to.value = query.get("to") || form.elements.from.value;
  form.elements.interval.value = query.get("interval") || "1h";
  form.elements.queue.value = query.get("queue") || "";
  staffingForm.elements.date.value = query.get("date") || form.elements.to.value;
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  staffingForm.addEventListener("submit", (event) => {
    event.preventDefault();
    loadStaffing().catch((error) => { errorBox.textContent = error.message; });
  });
  document.getElementById("agent-metric").addEventListener("change", renderAgentChart);
  load();
})();
