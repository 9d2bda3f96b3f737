"use strict";
// The audit log on the agents page (admins): who did what, when (the center's time), to whom,
// old → new, refusals marked; newest first, 50 at a time ("Load more" for older ones).
(() => {
  const $ = (id) => document.getElementById(id);
  const PAGE = 50;
  const ACTIONS = {
    "supervisor.monitor": t("listen to a call"), "supervisor.coach": t("coach an agent on a call"),
    "supervisor.barge": t("join a call"), "supervisor.leave": t("leave a call"),
    "supervisor.agent-status": t("set an agent's status"), "supervisor.move": t("move a waiting caller"),
    "supervisor.take": t("take a waiting call"), "supervisor.thresholds": t("change a queue's alert thresholds"),
    "agent.add": t("add an agent"), "agent.edit": t("edit an agent"), "agent.deactivate": t("deactivate an agent"),
    "agent.reactivate": t("reactivate an agent"), "agent.password": t("reset a password"),
    "agent.logout": t("log an agent out everywhere"), "customer.merge": t("merge two customers"),
    "erasure.retry": t("retry deleting erased recordings at Twilio"),
  };
  let last = null; // the id of the oldest entry shown

  function value(v) {
    if (v === null || v === undefined || v === "" || (Array.isArray(v) && !v.length)) return "—";
    if (Array.isArray(v)) return v.map(value).join(", ");
    if (v === true) return t("yes");
    if (v === false) return t("no");
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }
  // "field: old → new" for each change; the other details as "name: value".
  function change(details) {
    const parts = Object.entries(details.changes || {}).map(([field, pair]) =>
      (Array.isArray(pair) && pair.length === 2 ? `${field}: ${value(pair[0])} → ${value(pair[1])}` : `${field}: ${value(pair)}`));
    Object.entries(details).forEach(([name, v]) => { if (name !== "changes") parts.push(`${name}: ${value(v)}`); });
    return parts.join("; ") || "—";
  }
  function cell(text, field, className) {
    const td = el("td", text, className);
    td.dataset.field = field;
    return td;
  }
  function row(entry) {
    const tr = el("tr");
    const refused = entry.result !== "ok";
    tr.dataset.refused = refused ? "yes" : "no";
    if (refused) tr.classList.add("refused");
    const target = [entry.agent, entry.call_sid].filter(Boolean).join(" · ") || "—";
    tr.append(
      cell(dateTime(entry.at), "when", "mono"), cell(entry.actor, "who"),
      cell(ACTIONS[entry.action] || entry.action, "action"), cell(target, "target"),
      cell(change(entry.details || {}), "change"),
      cell(refused ? t("refused: {why}", { why: entry.result }) : t("done"), "result"));
    return tr;
  }

  async function more() {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (last !== null) query.set("before", String(last));
    try {
      const data = await api(`/api/audit?${query}`);
      $("audit-rows").append(...data.entries.map(row));
      if (data.entries.length) last = data.entries[data.entries.length - 1].id;
      $("audit-more").hidden = !data.more;
      $("audit-empty").hidden = $("audit-rows").children.length > 0;
      $("audit-error").textContent = "";
    } catch (error) {
      $("audit-error").textContent = error.message;
    }
  }
  $("audit-more").addEventListener("click", more);
  more();
})();
