"use strict";
// The tickets page: mine, my team's, overdue; a ticket's details, history and calls; change
// its status, priority or owner and add a note (PATCH /api/tickets/<id>). `#<id>` in the
// address opens that ticket. All data rendered as text.
(() => {
  const $ = (id) => document.getElementById(id);
  const page = $("tickets-page");
  const choices = JSON.parse(page.dataset.choices || "{}");
  const team = JSON.parse(page.dataset.team || "[]");
  const me = Number(page.dataset.agentId);
  let scope = "mine";
  let shown = null; // the ticket in the detail card

  const label = ticketStatusText;
  // The page's words, translated here: inside show(), `t` is the ticket.
  const KINDS = { status: t("status"), priority: t("priority"), description: t("description"),
    reassigned: t("owner") };
  const SAY = {
    me: t(" (me)"), survey: t(" (survey)"), system: t("system"), noCalls: t("No calls linked"),
    ivr: t("IVR"), overdue: t(" It is overdue."),
    by: (name) => t(" by {name}", { name }),
    note: (note) => t("note: {note}", { note }),
    linked: (call) => t("call linked {call}", { call }),
    opened: (note) => (note ? t("opened ({note})", { note }) : t("opened")),
    changed: (kind, old, now) => t("{what}: {old} → {new}", { what: KINDS[kind] || kind, old, new: now }),
  };
  // A value of the history as a person reads it: a status or a priority by its name.
  function historyValue(kind, value) {
    if (!value) return "—";
    if (kind === "status") return label(value);
    if (kind === "priority") return (choices.priorities || {})[value] || value;
    return value;
  }

  function options(select, entries, value) {
    select.replaceChildren(...entries.map(([code, text]) => {
      const option = el("option", text);
      option.value = code;
      return option;
    }));
    if (value !== undefined) select.value = value;
  }

  async function refresh() {
    const status = $("tk-status").value;
    try {
      const data = await api(`/api/tickets?scope=${scope}&status=${encodeURIComponent(status)}`);
      $("tk-error").textContent = "";
      const rows = data.tickets.map((ticket) => {
        const tr = el("tr", null, ticket.overdue ? "overdue" : "");
        tr.dataset.ticketId = String(ticket.id);
        const link = el("a", `#${ticket.id}`);
        link.href = `#${ticket.id}`;
        const id = el("td");
        id.append(link);
        const customer = ticket.customer ? ticket.customer.name : ticket.caller_number || "—";
        tr.append(id, el("td", ticket.category_label), el("td", customer), el("td", ticket.priority_label),
          el("td", label(ticket.status)),
          el("td", `${dateTime(ticket.due_at)}${ticket.overdue ? t(" (overdue)") : ""}`, "due"),
          el("td", ticket.owner ? ticket.owner.name : "—"));
        return tr;
      });
      $("tk-rows").replaceChildren(...(rows.length ? rows : [emptyRow(7, t("No tickets here."))]));
    } catch (error) {
      $("tk-error").textContent = t("Tickets: {why}", { why: error.message });
    }
  }

  async function open(id) {
    try {
      const data = await api(`/api/tickets/${id}`);
      show(data.ticket);
    } catch (error) {
      $("tk-error").textContent = t("Ticket #{id}: {why}", { id, why: error.message });
    }
  }

  function show(t) {
    shown = t;
    $("tk-detail").hidden = false;
    $("tk-title").textContent = `#${t.id} ${t.category_label} · ${t.priority_label}`;
    $("tk-promise").textContent = `${promiseText(t)}${t.overdue ? SAY.overdue : ""}`;
    const customer = t.customer ? `${t.customer.name} (${t.caller_number || t.customer.phones.join(", ")})` : t.caller_number || "—";
    $("tk-customer").textContent = customer;
    $("tk-state").textContent = label(t.status);
    $("tk-owner").textContent = t.owner ? `${t.owner.name} (${t.owner.number})` : "—";
    $("tk-opened").textContent = `${dateTime(t.created_at)}${t.created_by ? SAY.by(t.created_by.name) : SAY.survey}`;
    $("tk-description").textContent = t.description;
    options($("tk-new-status"), choices.statuses.map((s) => [s, label(s)]), t.status);
    options($("tk-new-priority"), Object.entries(choices.priorities), t.priority);
    const people = team.some((a) => t.owner && a.id === t.owner.id) || !t.owner ? team : [t.owner, ...team];
    options($("tk-new-owner"), people.map((a) => [String(a.id), `${a.name}${a.id === me ? SAY.me : ""}`]),
      t.owner ? String(t.owner.id) : "");
    $("tk-note").value = "";
    $("tk-change-error").textContent = "";
    $("tk-history").replaceChildren(...t.history.map((h) => {
      const who = h.agent ? h.agent.name : SAY.system;
      const change = h.kind === "note" ? SAY.note(h.note)
        : h.kind === "call" ? SAY.linked(h.new)
          : h.kind === "created" ? SAY.opened(h.note)
            : SAY.changed(h.kind, historyValue(h.kind, h.old), historyValue(h.kind, h.new));
      return el("li", `${dateTime(h.at)} · ${who} · ${change}`);
    }));
    $("tk-calls").replaceChildren(...(t.calls.length ? t.calls.map((c) => {
      const li = el("li");
      const link = el("a", dateTime(c.started_at) || c.call_sid);
      link.href = `/calls/${encodeURIComponent(c.call_sid)}`;
      li.append(link, ` · ${c.queue || SAY.ivr} · ${c.outcome ? outcomeText(c.outcome) : ""}`);
      return li;
    }) : [el("li", SAY.noCalls, "muted")]));
  }

  $("tk-change").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!shown) return;
    const body = {};
    if ($("tk-new-status").value !== shown.status) body.status = $("tk-new-status").value;
    if ($("tk-new-priority").value !== shown.priority) body.priority = $("tk-new-priority").value;
    const owner = Number($("tk-new-owner").value);
    if (owner && (!shown.owner || owner !== shown.owner.id)) body.owner_id = owner;
    if ($("tk-note").value.trim()) body.note = $("tk-note").value;
    if (!Object.keys(body).length) return;
    $("tk-save").disabled = true;
    try {
      const response = await fetch(`/api/tickets/${shown.id}`, {
        method: "PATCH", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      const data = await response.json().catch(() => null);
      if (!response.ok) {
        throw new Error(data && data.errors ? Object.entries(data.errors).map(([f, m]) => `${f}: ${m}`).join("; ")
          : (data && data.error) || response.statusText);
      }
      show(data.ticket);
      refresh();
    } catch (error) {
      $("tk-change-error").textContent = error.message;
    } finally {
      $("tk-save").disabled = false;
    }
  });

  document.querySelectorAll("[data-scope]").forEach((tab) => {
    tab.addEventListener("click", () => {
      scope = tab.dataset.scope;
      document.querySelectorAll("[data-scope]").forEach((other) => {
        other.setAttribute("aria-selected", String(other === tab));
      });
      refresh();
    });
  });
  $("tk-status").addEventListener("change", refresh);
  const fromHash = () => {
    const id = Number(location.hash.slice(1));
    if (id > 0) open(id);
  };
  window.addEventListener("hashchange", fromHash);
  fromHash();
  refresh();
  setInterval(refresh, 60000);
})();
