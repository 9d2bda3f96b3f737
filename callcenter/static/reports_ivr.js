"use strict";
// The IVR as diagrams: each flow's nodes and exits (from its YAML, via /api/reports/ivr),
// laid out by dagre (from npm) and drawn here as SVG, with the period's counts.
(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const form = document.getElementById("period");
  const errorBox = document.getElementById("report-error");
  const WAITING = new Set(["menu", "input", "language", "knowledge"]);
  const ENDS = new Set(["queue", "voicemail", "transfer", "hangup"]);
  const TERMS = { reached: t("Reached"), exits: t("Exits"), timeouts: t("No answer"), invalid: t("Invalid"),
    hung_up: t("Hung up"), ended: t("Ended here") };
  const KINDS = { menu: t("menu"), input: t("input"), language: t("language choice"), knowledge: t("knowledge"),
    queue: t("queue"), voicemail: t("voicemail"), transfer: t("transfer"), hangup: t("hangup"),
    message: t("message"), lookup: t("lookup"), branch: t("branch"), goto: t("goto") };
  // The ways out, named by the server in English from the flow's YAML, in the page's language.
  const EXITS = { "no answer": t("no answer"), "invalid answer": t("invalid answer"),
    "language known": t("language known"), "asked for an agent": t("asked for an agent"), done: t("done"),
    entered: t("entered"), found: t("found"), "not found": t("not found"), next: t("next"),
    otherwise: t("otherwise") };
  const EXIT_PATTERNS = [
    [/^key (\S+) \((.+)\)$/, (m) => t("key {key} ({language})", { key: m[1], language: m[2] })],
    [/^key (\S+)$/, (m) => t("key {key}", { key: m[1] })],
    [/^said option (\S+)$/, (m) => t("said option {key}", { key: m[1] })],
    [/^said “(.*)”$/, (m) => t("said “{words}”", { words: m[1] })],
    [/^rule (\S+)$/, (m) => t("rule {n}", { n: m[1] })],
    [/^to flow (.+)$/, (m) => t("to flow {flow}", { flow: m[1] })],
    [/^to (.+)$/, (m) => t("to {node}", { node: m[1] })],
  ];
  function exitLabel(label) {
    if (label in EXITS) return EXITS[label];
    for (const [pattern, say] of EXIT_PATTERNS) {
      const found = pattern.exec(label);
      if (found) return say(found);
    }
    return label;
  }
  // Boxes are sized from their text: a CJK character is about twice as wide as a Latin one.
  const textWidth = (text, unit) => [...text].reduce((w, c) => w + (/[\u2E80-\uFFEF]/.test(c) ? 2 : 1), 0) * unit;

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, String(v)));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }
  function nodeLines(node) {
    const kind = node.kind ? KINDS[node.kind] || node.kind : t("gone from the flow");
    const lines = [`${node.node} · ${kind}`, t("reached {n}", { n: node.reached })];
    if (WAITING.has(node.kind) || node.hung_up) lines.push(t("hung up {n}", { n: node.hung_up }));
    if (node.timeouts || node.invalid) {
      lines.push(t("no answer {timeouts} · invalid {invalid}", { timeouts: node.timeouts, invalid: node.invalid }));
    }
    if (ENDS.has(node.kind)) lines.push(t("ended here {n}", { n: node.ended }));
    return lines;
  }

  function draw(flow) {
    const graph = new dagre.graphlib.Graph({ multigraph: true });
    graph.setGraph({ rankdir: "TB", nodesep: 30, ranksep: 55, edgesep: 12, marginx: 10, marginy: 10 });
    graph.setDefaultEdgeLabel(() => ({}));
    const byName = new Map(flow.nodes.map((n) => [n.node, n]));
    flow.nodes.forEach((node) => {
      const lines = nodeLines(node);
      const width = Math.max(...lines.map((l) => textWidth(l, 7))) + 20;
      graph.setNode(node.node, { node, lines, width, height: lines.length * 16 + 12 });
    });
    flow.nodes.forEach((node) => node.exits.forEach((exit) => {
      if (!byName.has(exit.to) && !graph.hasNode(exit.to)) {
        const lines = [`→ ${exit.to}`];
        graph.setNode(exit.to, { lines, width: textWidth(lines[0], 7) + 20, height: 28, outside: true });
      }
      const text = `${exitLabel(exit.label)}: ${exit.count}`;
      graph.setEdge(node.node, exit.to, { exit, text, width: textWidth(text, 6.2) + 6, height: 16,
        labelpos: "c" }, exit.exit);
    }));
    dagre.layout(graph);
    const size = graph.graph();
    const root = svg("svg", { width: size.width, height: size.height, viewBox: `0 0 ${size.width} ${size.height}`,
      role: "img", "aria-label": t("flow {flow}", { flow: flow.flow }) });
    const defs = svg("defs");
    const marker = svg("marker", { id: `arrow-${flow.flow}`, viewBox: "0 0 10 10", refX: 9, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#5a6b7d" }));
    defs.append(marker);
    root.append(defs);
    graph.edges().forEach((e) => {
      const edge = graph.edge(e);
      const group = svg("g", { class: `ivr-edge${edge.exit.count ? " used" : ""}`, "data-from": e.v,
        "data-to": e.w, "data-exit": edge.exit.exit, "data-count": edge.exit.count });
      const d = edge.points.map((p, i) => `${i ? "L" : "M"} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(" ");
      const path = svg("path", { d, "marker-end": `url(#arrow-${flow.flow})` });
      path.style.strokeWidth = String(1.2 + Math.min(4, Math.log2(1 + edge.exit.count)));
      group.append(path);
      group.append(svg("rect", { class: "label-bg", x: edge.x - edge.width / 2, y: edge.y - 8,
        width: edge.width, height: 16, rx: 3 }));
      group.append(svg("text", { x: edge.x, y: edge.y + 4, "text-anchor": "middle" }, edge.text));
      root.append(group);
    });
    graph.nodes().forEach((name) => {
      const box = graph.node(name);
      const node = box.node;
      const kind = node ? (WAITING.has(node.kind) ? " waiting" : ENDS.has(node.kind) ? " end" : "") : " outside";
      const group = svg("g", { class: `ivr-node${kind}`, "data-node": name,
        "data-reached": node ? node.reached : "", "data-hung-up": node ? node.hung_up : "" });
      group.append(svg("rect", { x: box.x - box.width / 2, y: box.y - box.height / 2, width: box.width,
        height: box.height, rx: 6 }));
      box.lines.forEach((line, i) => {
        const drop = node && node.hung_up && line === t("hung up {n}", { n: node.hung_up });
        const cls = i === 0 ? "" : drop ? "drop" : "count";
        group.append(svg("text", { x: box.x, y: box.y - box.height / 2 + 18 + i * 16, "text-anchor": "middle",
          class: cls }, line));
      });
      if (node && node.description) group.append(svg("title", {}, node.description));
      root.append(group);
    });
    const section = el("section", undefined, "ivr-flow");
    section.dataset.flow = flow.flow;
    section.append(el("h3", `${flow.flow}${flow.description ? ` — ${flow.description}` : ""}`), root);
    return section;
  }

  function params() {
    const data = Object.fromEntries(new FormData(form));
    const query = new URLSearchParams();
    Object.entries(data).forEach(([k, v]) => { if (v) query.set(k, v); });
    return query.toString();
  }
  async function load() {
    errorBox.textContent = "";
    const query = params();
    history.replaceState(null, "", `/reports/ivr?${query}`);
    document.getElementById("csv-ivr").href = `/api/reports/ivr?${query}&format=csv`;
    try {
      const response = await fetch(`/api/reports/ivr?${query}`, { credentials: "same-origin" });
      const body = await response.json();
      if (!response.ok) throw new Error(body.error || response.statusText);
      const select = form.elements.flow;
      const known = new Set([...select.options].map((o) => o.value));
      body.flows.forEach((f) => { if (!known.has(f.flow)) select.append(new Option(f.flow, f.flow)); });
      document.getElementById("flows").replaceChildren(...body.flows.map(draw));
      const names = [...Object.keys(TERMS), ...Object.keys(body.definitions)]  // the drawing's order
        .filter((name, i, all) => name in body.definitions && all.indexOf(name) === i);
      document.getElementById("definitions").replaceChildren(...names
        .flatMap((name) => [el("dt", TERMS[name] || name), el("dd", body.definitions[name])]));
      document.body.dataset.loaded = "true";
    } catch (error) {
      errorBox.textContent = error.message;
    }
  }
  const query = new URLSearchParams(location.search);
  const today = form.dataset.today; // the center's today, not the browser's
  form.elements.from.value = query.get("from") || today;
  form.elements.to.value = query.get("to") || form.elements.from.value;
  if (query.get("flow")) form.elements.flow.append(new Option(query.get("flow"), query.get("flow")));
  form.elements.flow.value = query.get("flow") || "";
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  load();
})();
