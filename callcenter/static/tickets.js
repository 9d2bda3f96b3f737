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
      const rows = data.tickets.map((t) => {
        const tr = el("tr", null, t.overdue ? "overdue" : "");
        tr.dataset.ticketId = String(t.id);
        const link = el("a", `#${t.id}`);
        link.href = `#${t.id}`;
        const id = el("td");
        id.append(link);
        const customer = t.customer ? t.customer.name : t.caller_number || "—";
        tr.append(id, el("td", t.category_label), el("td", customer), el("td", t.priority_label),
          el("td", label(t.status)), el("td", `${dateTime(t.due_at)}${t.overdue ? " (overdue)" : ""}`, "due"),
          el("td", t.owner ? t.owner.name : "—"));
        return tr;
      });
      $("tk-rows").replaceChildren(...(rows.length ? rows : [emptyRow(7, "No tickets here.")]));
    } catch (error) {
      $("tk-error").textContent = `Tickets: ${error.message}`;
    }
  }

  async function open(id) {
    try {
      const data = await api(`/api/tickets/${id}`);
      show(data.ticket);
    } catch (error) {
      $("tk-error").textContent = `Ticket #${id}: ${error.message}`;
    }
  }

  function show(t) {
    shown = t;
    $("tk-detail").hidden = false;
    $("tk-title").textContent = `#${t.id} ${t.category_label} · ${t.priority_label}`;
    $("tk-promise").textContent = `${promiseText(t)}${t.overdue ? " It is overdue." : ""}`;
    const customer = t.customer ? `${t.customer.name} (${t.caller_number || t.customer.phones.join(", ")})` : t.caller_number || "—";
    $("tk-customer").textContent = customer;
    $("tk-state").textContent = label(t.status);
    $("tk-owner").textContent = t.owner ? `${t.owner.name} (${t.owner.number})` : "—";
    $("tk-opened").textContent = `${dateTime(t.created_at)}${t.created_by ? ` by ${t.created_by.name}` : " (survey)"}`;
    $("tk-description").textContent = t.description;
    options($("tk-new-status"), choices.statuses.map((s) => [s, label(s)]), t.status);
    options($("tk-new-priority"), Object.entries(choices.priorities), t.priority);
    const people = team.some((a) => t.owner && a.id === t.owner.id) || !t.owner ? team : [t.owner, ...team];
    options($("tk-new-owner"), people.map((a) => [String(a.id), `${a.name}${a.id === me ? " (me)" : ""}`]),
      t.owner ? String(t.owner.id) : "");
    $("tk-note").value = "";
    $("tk-change-error").textContent = "";
    $("tk-history").replaceChildren(...t.history.map((h) => {
      const who = h.agent ? h.agent.name : "system";
      const change = h.kind === "note" ? `note: ${h.note}`
        : h.kind === "call" ? `call linked ${h.new}`
          : h.kind === "created" ? `opened${h.note ? ` (${h.note})` : ""}`
            : `${h.kind}: ${h.old || "—"} → ${h.new || "—"}`;
      return el("li", `${dateTime(h.at)} · ${who} · ${change}`);
    }));
    $("tk-calls").replaceChildren(...(t.calls.length ? t.calls.map((c) => {
      const li = el("li");
      const link = el("a", dateTime(c.started_at) || c.call_sid);
      link.href = `/calls/${encodeURIComponent(c.call_sid)}`;
      li.append(link, ` · ${c.queue || "IVR"} · ${c.outcome || ""}`);
      return li;
    }) : [el("li", "No calls linked", "muted")]));
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
