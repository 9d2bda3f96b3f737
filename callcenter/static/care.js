"use strict";
// The agent console's tickets and follow-ups (docs/care.md):
// - "New ticket": category (and kind for complaints), priority, description; linked to the
//   current call; the promised deadline is shown before and after opening it, to tell the
//   caller. One click opens one ticket (the form's request id makes a repeat harmless).
// - "Follow-ups": callers we missed, worked like the voicemail inbox (take, call back,
//   mark done with an outcome); refreshed on `followups:changed` and every 30 seconds.
// - `ticket:due`: a reminder that one of my tickets is due soon or overdue.
// All data rendered as text.
(() => {
  const $ = (id) => document.getElementById(id);
  const socket = window.agentSocket;

  // -- new ticket -------------------------------------------------------------------------

  const card = $("ticket-card");
  const choices = JSON.parse((card && card.dataset.choices) || "{}");
  let call = null; // the current call: { call_sid, customer, from }
  let requestId = newRequestId();

  function newRequestId() {
    return `form-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  }
  function options(select, entries) {
    select.replaceChildren(...entries.map(([value, label]) => {
      const option = el("option", label);
      option.value = value;
      return option;
    }));
  }
  function showPromise() {
    const category = (choices.categories || {})[$("ticket-category").value];
    if (!category) return;
    const kinds = Object.entries(category.kinds || {});
    $("ticket-kind-label").hidden = kinds.length === 0;
    const kind = kinds.length ? category.kinds[$("ticket-kind").value] : null;
    const hours = kind ? kind.hours : category.hours;
    $("ticket-promise").textContent = t("Promise to the caller: an answer within {hours}.", { hours: hoursText(hours) });
  }
  function showCall() {
    $("ticket-call").textContent = call
      ? t("For the current call with {who}.", { who: (call.customer && call.customer.name) || call.from || t("the caller") })
      : t("Not on a call: the ticket is not linked to a call.");
  }

  if (card) {
    options($("ticket-category"), Object.entries(choices.categories || {}).map(([name, c]) => [name, c.label]));
    options($("ticket-priority"), Object.entries(choices.priorities || {}));
    $("ticket-priority").value = choices.default_priority || "";
    const fillKinds = () => {
      const category = (choices.categories || {})[$("ticket-category").value] || {};
      options($("ticket-kind"), Object.entries(category.kinds || {}).map(([name, k]) => [name, k.label]));
      showPromise();
    };
    $("ticket-category").addEventListener("change", fillKinds);
    $("ticket-kind").addEventListener("change", showPromise);
    fillKinds();
    document.addEventListener("console:call", (event) => {
      if (event.detail) call = event.detail; // kept through wrap-up, until the next call
      showCall();
    });
    $("ticket-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = $("ticket-submit");
      if (button.disabled) return;
      button.disabled = true;
      $("ticket-error").textContent = "";
      const body = {
        category: $("ticket-category").value,
        priority: $("ticket-priority").value,
        description: $("ticket-description").value,
        request_id: requestId,
      };
      if (!$("ticket-kind-label").hidden) body.kind = $("ticket-kind").value;
      if (call) body.call_sid = call.call_sid;
      try {
        const answer = await sendTicket(body);
        const ticket = answer.ticket;
        const created = $("ticket-created");
        created.replaceChildren(`${t("Ticket #{id} opened.", { id: ticket.id })} ${promiseText(ticket)} `);
        const link = el("a", t("Open"));
        link.href = `/tickets#${ticket.id}`;
        created.append(link);
        created.hidden = false;
        $("ticket-description").value = "";
        requestId = newRequestId();
      } catch (error) {
        $("ticket-error").textContent = error.message;
      } finally {
        button.disabled = false;
      }
    });
  }

  // POST /api/tickets; field errors come back as {"errors": {field: message}}.
  async function sendTicket(body) {
    const response = await fetch("/api/tickets", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => null);
    if (response.ok && data) return data;
    if (data && data.errors) throw new Error(Object.entries(data.errors).map(([f, m]) => `${f}: ${m}`).join("; "));
    throw new Error((data && data.error) || `${response.status} ${response.statusText}`);
  }

  // -- follow-ups -------------------------------------------------------------------------

  const list = $("fu-list");
  if (!list) return;
  const me = Number($("followups").dataset.agentId || 0) || null;
  const supervisor = ["supervisor", "admin"].includes($("followups").dataset.role);
  const RANKS = { vip: t("VIP"), known: t("Customer"), unknown: t("Unknown caller") };
  let outcomes = {};
  let loading = false;
  let again = false;

  async function refresh() {
    if (loading) {
      again = true;
      return;
    }
    loading = true;
    try {
      do {
        again = false;
        try {
          const data = await api(`/api/followups?status=${encodeURIComponent($("fu-status").value)}`);
          $("fu-error").textContent = "";
          outcomes = data.outcomes || {};
          render(data.followups || []);
        } catch (error) {
          $("fu-error").textContent = t("Follow-ups: {why}", { why: error.message });
        }
      } while (again);
    } finally {
      loading = false;
    }
  }

  function render(items) {
    $("fu-count").textContent = String(items.length);
    const focused = document.activeElement && list.contains(document.activeElement);
    if (focused) return; // the agent is typing notes: the next refresh shows the changes
    list.replaceChildren(...(items.length ? items.map(build) : [el("li", t("Nobody to call back."), "muted empty")]));
  }

  function build(item) {
    const li = el("li", null, "vm fu");
    li.dataset.followupId = String(item.id);
    li.dataset.status = item.status === "done" ? "handled" : item.status === "assigned" ? "assigned" : "new";
    li.dataset.rank = item.rank;
    const customer = item.customer;
    const head = el("div", null, "vm-head");
    head.append(el("strong", customer ? customer.name : item.number, "fu-caller"), " ",
      el("span", item.number, "mono"), " ", el("span", RANKS[item.rank] || item.rank, "pill fu-rank"));
    if (customer && customer.tier && item.rank !== "vip") head.append(" ", el("span", customer.tier, "pill"));
    if (item.occurrences > 1) head.append(" ", el("span", t("{count} missed", { count: item.occurrences }), "pill"));
    li.append(head);
    const facts = el("p", null, "muted");
    facts.append(el("span", t("first {age}", { age: age(item.created_at) })), " · ", el("span", statusText(item), "fu-status"));
    if (item.sms === "sent") facts.append(t(" · texted “sorry we missed you”"));
    facts.title = dateTime(item.created_at);
    li.append(facts);
    const what = el("ul", null, "fu-what");
    what.append(...item.events.map((e) => {
      const row = el("li", `${missedEventText(e)} (${dateTime(e.at)}) `);
      const link = el("a", t("call record"));
      link.href = `/calls/${encodeURIComponent(e.call_sid)}`;
      row.append(link);
      return row;
    }));
    li.append(what);
    if (customer && customer.notes) li.append(el("p", customer.notes, "notes"));
    if (item.status === "done") {
      li.append(el("p", t("Done {when}", { when: dateTime(item.done_at) }) + (item.done_by ? t(" by {name}", { name: item.done_by }) : "") + `: ${followupOutcomeText(item)}`, "muted"));
      if (item.notes) li.append(el("p", item.notes, "notes"));
      return li;
    }
    const theirs = item.assigned_to && item.assigned_to.id !== me && !supervisor;
    if (theirs) return li;
    const mine = item.assigned_to && me !== null && item.assigned_to.id === me;
    const buttons = el("div", null, "buttons");
    if (!mine) buttons.append(action(t("Assign to me"), "fu-assign", () => post(item, "assign", {})));
    if (item.status === "assigned") buttons.append(action(t("Release"), "fu-release", () => post(item, "release", {})));
    // Call now takes the follow-up (assigned to me) and calls the customer back at once: my
    // phone first, then theirs; the call-back ends in its outcome below.
    buttons.append(action(t("Call now"), "fu-call primary", () => {
      $("fu-message").textContent = "";
      document.dispatchEvent(new CustomEvent("console:dial", { detail: {
        target: { followup_id: item.id }, errorBox: li.querySelector(".error"),
        placed: () => {
          $("fu-message").textContent = t("Calling back: your phone rings first, then the caller's.");
          if (document.activeElement) document.activeElement.blur(); // the list shows it taken
          refresh();
        },
      } }));
    }));
    li.append(buttons);
    const close = el("form", null, "vm-close");
    const outcome = el("select", null, "fu-outcome");
    outcome.setAttribute("aria-label", t("Outcome"));
    outcome.append(el("option", t("Outcome…")), ...Object.entries(outcomes).map(([code, label]) => {
      const option = el("option", label);
      option.value = code;
      return option;
    }));
    outcome.firstChild.value = "";
    const notes = el("textarea", null, "fu-notes");
    notes.rows = 2;
    notes.maxLength = 4000;
    notes.placeholder = t("What happened (e.g. reached, repair booked)");
    notes.setAttribute("aria-label", t("Notes"));
    const submit = el("button", t("Mark done"), "fu-done");
    submit.type = "submit";
    close.append(outcome, notes, submit);
    close.addEventListener("submit", (event) => {
      event.preventDefault();
      post(item, "done", { outcome: outcome.value, notes: notes.value }, t("Follow-up marked done."));
    });
    li.append(close);
    const error = el("p", null, "error");
    error.setAttribute("role", "alert");
    li.append(error);
    return li;
  }

  function statusText(item) {
    if (item.status === "assigned" && item.assigned_to) {
      const mine = me !== null && item.assigned_to.id === me;
      return t("{status} to {who}", { status: t("Assigned"), who: mine ? t("me") : `${item.assigned_to.name} (${item.assigned_to.number})` });
    }
    return { open: t("Open"), done: t("Done") }[item.status] || item.status;
  }

  function action(text, className, run) {
    const button = el("button", text, className);
    button.type = "button";
    button.addEventListener("click", async () => {
      button.disabled = true; // one click, one request
      try {
        await run();
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  async function post(item, verb, body, success) {
    const node = list.querySelector(`[data-followup-id="${item.id}"] .error`);
    if (node) node.textContent = "";
    $("fu-message").textContent = "";
    try {
      const response = await fetch(`/api/followups/${item.id}/${verb}`, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
      const data = await response.json().catch(() => null);
      if (!response.ok) {
        const message = data && data.errors ? Object.values(data.errors).join("; ") : (data && data.error) || response.statusText;
        throw new Error(message);
      }
      if (success) $("fu-message").textContent = success;
      if (document.activeElement) document.activeElement.blur();
      await refresh();
    } catch (error) {
      if (node) node.textContent = error.message;
      else $("fu-error").textContent = error.message;
    }
  }

  $("fu-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  $("fu-status").addEventListener("change", refresh);
  if (socket) {
    socket.on("followups:changed", refresh);
    socket.on("ticket:due", (data) => {
      const ticket = data.ticket || {};
      const reminders = $("ticket-reminders");
      if (!reminders) return;
            const facts = { id: ticket.id, category: ticket.category_label, when: dateTime(ticket.due_at) };
      const li = el("li", data.state === "overdue" ? t("Ticket #{id} ({category}) is overdue: due {when}. ", facts)
        : t("Ticket #{id} ({category}) is due soon: due {when}. ", facts), data.state);
      const link = el("a", t("Open"));
      link.href = `/tickets#${ticket.id}`;
      li.append(link);
      reminders.prepend(li);
    });
  }
  refresh();
  setInterval(refresh, 30000);
})();
