"use strict";
// The voicemail inbox on the agent console: filter by mailbox and status, listen, take a
// message, call the caller back (the call-back rings this console as an offer), close it
// with notes. Refreshed every 15 seconds and after each action. All data rendered as text.
(() => {
  const $ = (id) => document.getElementById(id);
  const list = $("vm-list");
  if (!list) return;
  const me = Number($("voicemail").dataset.agentId || 0) || null;
  const supervisor = ["supervisor", "admin"].includes($("voicemail").dataset.role);
  const nodes = new Map(); // voicemail id -> { node, signature } (kept while unchanged)
  let mailboxes = {};
  let loading = false;
  let again = false;


  function filterQuery() {
    const params = new URLSearchParams({ status: $("vm-status").value });
    if ($("vm-mailbox").value) params.set("mailbox", $("vm-mailbox").value);
    return params;
  }

  async function refresh() {
    if (loading) {
      again = true; // a filter changed or an action finished meanwhile: load once more
      return;
    }
    loading = true;
    try {
      do {
        again = false;
        try {
          const data = await api(`/api/voicemails?${filterQuery()}`);
          $("vm-error").textContent = "";
          showMailboxes(data.mailboxes || {});
          render(data.voicemails || []);
        } catch (error) {
          $("vm-error").textContent = t("Voicemail: {why}", { why: error.message });
        }
      } while (again);
    } finally {
      loading = false;
    }
  }

  function showMailboxes(found) {
    if (JSON.stringify(found) === JSON.stringify(mailboxes)) return;
    mailboxes = found;
    const select = $("vm-mailbox");
    const chosen = select.value;
    const all = el("option", t("All mailboxes"));
    all.value = "";
    select.replaceChildren(all, ...Object.entries(found).map(([name, display]) => {
      const option = el("option", display);
      option.value = name;
      return option;
    }));
    select.value = Object.prototype.hasOwnProperty.call(found, chosen) ? chosen : "";
  }

  function render(items) {
    $("vm-count").textContent = String(items.length);
    const seen = new Set();
    const wanted = items.map((item) => {
      seen.add(item.id);
      const signature = JSON.stringify(item);
      const kept = nodes.get(item.id);
      if (kept && kept.signature === signature) {
        kept.node.querySelector(".vm-age").textContent = age(item.created_at);
        return kept.node;
      }
      const node = build(item);
      if (kept) {
        // Keep what the agent was typing when someone else changed the voicemail.
        const typed = kept.node.querySelector("textarea");
        const fresh = node.querySelector("textarea");
        if (typed && fresh && typed.value) fresh.value = typed.value;
      }
      nodes.set(item.id, { node, signature });
      return node;
    });
    for (const id of [...nodes.keys()]) if (!seen.has(id)) nodes.delete(id);
    if (!wanted.length) {
      list.replaceChildren(el("li", t("No voicemail here."), "muted empty"));
      return;
    }
    // Only touch the list when it changed: moving a playing <audio> would stop it.
    const same = wanted.length === list.children.length && wanted.every((node, i) => list.children[i] === node);
    if (!same) list.replaceChildren(...wanted);
  }

  function build(item) {
    const li = el("li", null, "vm");
    li.dataset.voicemailId = String(item.id);
    li.dataset.status = item.status;
    const customer = item.customer;

    const head = el("div", null, "vm-head");
    head.append(el("strong", customer ? customer.name : item.from || t("Unknown caller"), "vm-caller"));
    if (customer) head.append(" ", el("span", item.from, "mono"));
    if (customer && customer.tier) head.append(" ", el("span", customer.tier, "pill"));
    head.append(" ", el("span", mailboxes[item.mailbox] || item.mailbox, "pill"));
    li.append(head);

    const facts = el("p", null, "muted");
    facts.append(
      el("span", item.duration === null || item.duration === undefined ? t("length unknown") : seconds(item.duration)),
      " · ", el("span", age(item.created_at), "vm-age"),
      " · ", el("span", statusText(item), "vm-status"),
    );
    facts.title = dateTime(item.created_at);
    li.append(facts);

    if (customer) {
      const card = el("p", null, "vm-customer");
      card.append(t("Account: "), el("span", customer.account || "—", "mono"));
      if (customer.phones && customer.phones.length) card.append(" · ", el("span", customer.phones.join(", "), "mono"));
      li.append(card);
      if (customer.notes) li.append(el("p", customer.notes, "notes"));
    }

    const theirs = item.assigned_to && item.assigned_to.id !== me && !supervisor;
    if (theirs) {
      li.append(el("p", t("Only {name} can play it while they work on it.", { name: item.assigned_to.name }), "muted"));
    } else if (item.playable && item.url) {
      const audio = document.createElement("audio");
      audio.controls = true;
      audio.preload = "none";
      audio.src = item.url;
      li.append(audio);
    } else {
      li.append(el("p", item.download === "done" ? t("The recording was deleted.") : t("The recording is still downloading…"), "muted"));
    }

    if (item.call_sid) {
      const link = el("a", t("Call record"));
      link.href = `/calls/${encodeURIComponent(item.call_sid)}`;
      const p = el("p");
      p.append(link);
      if (item.callback_call_sid) {
        const back = el("a", t("call-back"));
        back.href = `/calls/${encodeURIComponent(item.callback_call_sid)}`;
        p.append(" · ", back);
      }
      li.append(p);
    }

    if (item.status === "handled") {
      li.append(el("p", t("Handled {when}", { when: dateTime(item.handled_at) }) + (item.handled_by ? t(" by {name}", { name: item.handled_by }) : ""), "muted"));
      if (item.notes) li.append(el("p", item.notes, "notes"));
      li.append(el("p", null, "error"));
      return li;
    }

    if (theirs) return li; // someone else is working on it: nothing to do here
    const mine = item.assigned_to && me !== null && item.assigned_to.id === me;
    const buttons = el("div", null, "buttons");
    if (!mine) buttons.append(action(t("Assign to me"), "vm-assign", () => post(item, "assign", {})));
    if (item.status === "assigned") buttons.append(action(t("Release"), "vm-release", () => post(item, "release", {})));
    // Call now takes the voicemail (assigned to me) and calls the caller back at once: my
    // phone first, then theirs; the message is linked to the call-back.
    buttons.append(action(t("Call now"), "vm-call primary", () => {
      $("vm-message").textContent = "";
      document.dispatchEvent(new CustomEvent("console:dial", { detail: {
        target: { voicemail_id: item.id }, errorBox: li.querySelector(".error"),
        placed: () => { $("vm-message").textContent = t("Calling back: your phone rings first, then the caller's."); refresh(); },
      } }));
    }));
    li.append(buttons);

    const close = el("form", null, "vm-close");
    const notes = el("textarea");
    notes.rows = 2;
    notes.maxLength = 4000;
    notes.placeholder = t("What was done (e.g. called back, repair booked)");
    notes.setAttribute("aria-label", t("Notes"));
    notes.className = "vm-notes";
    const submit = el("button", t("Mark handled"), "vm-handled");
    submit.type = "submit";
    close.append(notes, submit);
    close.addEventListener("submit", (event) => {
      event.preventDefault();
      post(item, "handled", { notes: notes.value });
    });
    li.append(close);
    const error = el("p", null, "error");
    error.setAttribute("role", "alert");
    li.append(error);
    return li;
  }

  function statusText(item) {
    const label = voicemailStatusText(item.status);
    if (item.status === "assigned" && item.assigned_to) {
      const mine = me !== null && item.assigned_to.id === me;
      return t("{status} to {who}", { status: label, who: mine ? t("me") : `${item.assigned_to.name} (${item.assigned_to.number})` });
    }
    return label;
  }

  function action(text, className, run) {
    const button = el("button", text, className);
    button.type = "button";
    button.addEventListener("click", run);
    return button;
  }

  function itemError(item, message) {
    const node = nodes.get(item.id);
    const error = node && node.node.querySelector(".error");
    if (error) error.textContent = message;
    else $("vm-error").textContent = message;
  }

  async function post(item, verb, body) {
    itemError(item, "");
    $("vm-message").textContent = "";
    try {
      await api(`/api/voicemails/${item.id}/${verb}`, body);
      if (verb === "handled") $("vm-message").textContent = t("Voicemail marked handled.");
      await refresh();
    } catch (error) {
      itemError(item, error.message);
      refresh();
    }
  }

  $("vm-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  $("vm-mailbox").addEventListener("change", refresh);
  $("vm-status").addEventListener("change", refresh);
  refresh();
  setInterval(refresh, 15000);
})();
