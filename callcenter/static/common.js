"use strict";
// Shared by the consoles: text-only rendering (never innerHTML with data) and logout.
function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}
function seconds(total) {
  const s = Math.max(0, Math.round(total || 0));
  return s >= 60 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${s}s`;
}
function renderQueues(rows) {
  const body = document.getElementById("queues");
  if (!body) return;
  body.replaceChildren(...rows.map((q) => {
    const tr = el("tr");
    tr.dataset.queue = q.name;
    tr.append(el("td", q.display_name), el("td", q.waiting), el("td", seconds(q.longest_wait)), el("td", q.agents_available));
    return tr;
  }));
}
const logout = document.getElementById("logout");
if (logout) {
  logout.addEventListener("click", async () => {
    await fetch("/api/logout", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    location.assign("/login");
  });
}
