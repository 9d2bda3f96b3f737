"use strict";
// The screen-pop of an offer on the agent console (`call:offer`, `call:consult`): who calls,
// what kind of offer it is (inbound call, call-back, consult, transfer, outbound call), the
// caller's path through the IVR and what they entered, their earlier calls and open tickets.
// ScreenPop.fill(payload) writes it into the offer card; agent.js shows the card and keeps
// the offer. All data is rendered as text.
const ScreenPop = (() => {
  const $ = (id) => document.getElementById(id);

  // -- what the offer is: inbound call, call-back (dials the customer), consult -------------

  const OFFER_TITLES = { inbound: t("Incoming call"), callback: t("Call-back request"), consult: t("Consult"),
    outbound: t("Outbound call") };
  // An outbound call placed from a voicemail or a follow-up (Call now) is titled by it.
  function offerTitle(kind, callback) {
    if (kind === "outbound" && callback && callback.voicemail) return t("Voicemail call-back");
    if (kind === "outbound" && callback && callback.followup) return t("Follow-up call-back");
    return OFFER_TITLES[kind] || OFFER_TITLES.inbound;
  }

  function voicemailText(message) {
    const length = message.duration_seconds != null
      ? t("a {length} voicemail", { length: seconds(message.duration_seconds) }) : t("a voicemail");
    const ago = message.left_seconds_ago != null ? t(" {ago} ago", { ago: seconds(message.left_seconds_ago) }) : "";
    return t(" They left {voicemail}{ago}.", { voicemail: length, ago });
  }
  function missedText(followup) {
    const missed = followup.events ? followup.events.map(missedEventText) : followup.what || [];
    return t(" We missed them: {missed}.", { missed: missed.join("; ") || t("a missed call") });
  }

  function offerKind(payload) {
    const kind = payload.kind || "inbound";
    const callback = payload.callback || {};
    const number = callback.number || payload.caller_number || payload.from || "";
    if (kind === "outbound") {
      // A call-back placed from a voicemail or a follow-up says what it answers.
      const why = callback.voicemail ? voicemailText(callback.voicemail)
        : callback.followup ? missedText(callback.followup) : "";
      return t("You are calling {number}: your phone rings first, then the customer's.", { number }) + why;
    }
    if (kind === "callback") {
      const ago = callback.requested_seconds_ago;
      return t("Accepting dials the customer at {number}.", { number }) +
        (ago != null ? t(" They asked to be called back {ago} ago.", { ago: seconds(ago) }) : "");
    }
    if (kind === "consult") {
      const from = (payload.consult || {}).from || {};
      const who = (payload.customer || {}).name || payload.caller_number || payload.from || t("a caller");
      return t("{agent} wants to hand you their call with {who}. ", { agent: agentName(from), who }) +
        t("Accept to join the call: the caller holds while you talk to {name}.", { name: from.name || t("them") });
    }
    if (payload.transfer) {
      return t("{agent} transferred this call to you: the caller is on the line.", { agent: agentName(payload.transfer.from) });
    }
    return "";
  }

  function agentName(agent) {
    if (!agent) return t("Another agent");
    return agent.number ? `${agent.name} (${agent.number})` : agent.name;
  }

  // Known caller: a link to the customer's file; an unknown number: create one, prefilled.
  function customerLink(link, customer, number) {
    link.hidden = !customer.id && !number;
    link.textContent = customer.id ? t("Open customer") : t("Create customer");
    link.href = customer.id ? `/customers/${customer.id}` : `/customers?phone=${encodeURIComponent(number)}`;
  }

  // The offer card's contents for a `call:offer` / `call:consult` payload.
  function fill(payload) {
    const customer = payload.customer || {};
    $("pop-name").textContent = customer.name || t("Unknown caller");
    $("pop-number").textContent = payload.caller_number || payload.from || "";
    $("pop-tier").textContent = customer.tier || "";
    $("pop-language").textContent = payload.language || "";
    $("pop-account").textContent = customer.account || "—";
    $("pop-notes").textContent = customer.notes || "";
    customerLink($("pop-customer"), customer, payload.caller_number || "");
    $("pop-queue").textContent = payload.queue.display_name || "";
    const kind = payload.kind || "inbound";
    const from = (payload.consult || {}).from;
    $("offer-title").textContent = kind === "consult" ? t("Consult from {agent}", { agent: agentName(from) }) : offerTitle(kind, payload.callback);
    $("offer").dataset.kind = kind;
    $("pop-kind").textContent = offerKind(payload);
    $("pop-kind").hidden = kind === "inbound";
    $("pop-wait").hidden = kind !== "inbound";
    $("pop-waited").textContent = seconds(payload.queue.waited_seconds);
    const path = payload.ivr.path || [];
    const inputs = Object.entries(payload.ivr.inputs || {});
    $("pop-ivr").replaceChildren(...path.map((step) => {
      const label = step.label || `${step.flow}.${step.node}`;
      return el("li", step.input ? `${label}: ${step.input}` : label);
    }));
    $("pop-inputs").replaceChildren(...inputs.flatMap(([key, value]) => [el("dt", key), el("dd", value, "mono")]));
    $("pop-ivr-box").hidden = path.length === 0 && inputs.length === 0;
    $("pop-inputs-box").hidden = inputs.length === 0;
    $("pop-history").replaceChildren(...(payload.history.length ? payload.history.map((h) => {
      const what = h.disposition_label || h.disposition || h.outcome_label || h.outcome || "";
      const who = h.agent_name || h.agent;
      const rated = surveyText(h);
      const when = LOCALE === "en" ? h.started_at.slice(0, 16).replace("T", " ") : dateTime(h.started_at);
      return el("li", `${when} · ${h.queue || t("IVR")} · ${what}` +
        `${who ? " · " + who : ""}${rated ? " · CSAT " + rated : ""}${h.notes ? " — " + h.notes : ""}`);
    }) : [el("li", t("No earlier calls"), "muted")]));
    const tickets = payload.tickets || [];
    $("pop-tickets").replaceChildren(...tickets.map((ticket) => {
      const li = el("li", null, ticket.overdue ? "overdue" : "");
      const link = el("a", `#${ticket.id} ${ticket.category_label}`);
      link.href = `/tickets#${ticket.id}`;
      link.target = "_blank";
      li.append(link, ` · ${ticketStatusText(ticket.status)} · `
        + t("due {when}", { when: dateTime(ticket.due_at) }) + (ticket.overdue ? t(" (overdue)") : ""),
        el("div", ticket.description, "muted small"));
      return li;
    }));
    $("pop-tickets-box").hidden = tickets.length === 0;
  }

  return { agentName, customerLink, fill };
})();
