"use strict";
// The call record page: who called, how the call went, its recordings (with the pauses),
// voicemail, the knowledge consulted and the timeline, from GET /api/calls/<sid>.
// All data is rendered as text.
(() => {
  const $ = (id) => document.getElementById(id);
  const callSid = $("call-record").dataset.callSid;

  function text(id, value) {
    $(id).textContent = value === null || value === undefined || value === "" ? "—" : String(value);
  }

  function player(url) {
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.preload = "none";
    audio.src = url;
    return audio;
  }

  function agentLabel(record, pause) {
    if (pause.agent) return t("agent {number}", { number: pause.agent });
    const id = pause.by;
    if (id === null || id === undefined) return "";
    if (record.agent && record.agent.id === id) return t("agent {number}", { number: record.agent.number });
    return t("agent #{id}", { id });
  }

  function pauseText(record, pause) {
    const until = pause.resumed_at ? clockTime(pause.resumed_at) : t("end");
    const by = agentLabel(record, pause);
    const from = clockTime(pause.paused_at);
    return by ? t("paused {from}–{until} by {by}", { from, until, by }) : t("paused {from}–{until}", { from, until });
  }

  function renderRecording(record, item) {
    const li = el("li", null, "recording");
    li.dataset.recordingSid = item.recording_sid || "";
    const head = el("p");
    head.append(el("strong", recordingStatusText(item.status)), " · ",
      el("span", item.duration === null || item.duration === undefined ? t("length unknown") : seconds(item.duration)),
      " · ", el("span", item.channels === 2 ? t("two channels") : t("one channel")));
    if (item.started_at) head.append(" · ", el("span", t("from {when}", { when: dateTime(item.started_at) })));
    if (item.agent) head.append(" · ", el("span", t("agent {number}", { number: item.agent })));
    li.append(head);
    if (item.playable && item.url) li.append(player(item.url));
    else if (item.purged) li.append(el("p", t("Deleted under the retention policy."), "muted"));
    else li.append(el("p", item.download ? t("Audio not available yet ({why}).", { why: item.download }) : t("No audio stored."), "muted"));
    const pauses = item.pauses || [];
    if (pauses.length) {
      const list = el("ul", null, "pauses");
      list.append(...pauses.map((pause) => el("li", pauseText(record, pause))));
      li.append(list);
    } else {
      li.append(el("p", t("Never paused."), "muted"));
    }
    return li;
  }

  function renderVoicemail(item) {
    const li = el("li", null, "recording");
    li.dataset.voicemailId = String(item.id);
    const head = el("p");
    head.append(el("strong", t("Voicemail ({mailbox})", { mailbox: item.mailbox })), " · ",
      el("span", item.duration === null || item.duration === undefined ? t("length unknown") : seconds(item.duration)),
      " · ", el("span", voicemailStatusText(item.status)), " · ", el("span", dateTime(item.created_at)));
    if (item.assigned_to) head.append(" · ", el("span", `${item.assigned_to.name} (${item.assigned_to.number})`));
    li.append(head);
    if (item.playable && item.url) li.append(player(item.url));
    else li.append(el("p", t("Audio not available."), "muted"));
    if (item.notes) li.append(el("p", item.notes, "notes"));
    return li;
  }

  function knowledgeText(item) {
    const title = item.title || item.article_id || "";
    if (item.action === "search") {
      const query = item.query || "";
      if (item.results === null || item.results === undefined) return t("searched “{query}”", { query });
      return t("searched “{query}” ({count} found)", { query, count: item.results });
    }
    if (item.action === "open" && item.source === "ivr") return t("the menu read “{title}” to the caller", { title });
    if (item.action === "open" && item.source === "suggestion") return t("opened “{title}” from the suggestions", { title });
    if (item.action === "open") return t("opened “{title}”", { title });
    if (item.action === "send") return t("texted “{title}” to the caller", { title });
    return `${item.action} ${title}`.trim();
  }

  function detailText(detail) {
    if (!detail || typeof detail !== "object") return detail ? String(detail) : "";
    return Object.entries(detail).map(([key, value]) =>
      `${key}=${value !== null && typeof value === "object" ? JSON.stringify(value) : value}`).join(" ");
  }

  // The timeline's event names in words (the raw name stays in data-kind and the tooltip).
  const EVENT_TEXT = {
    "call.started": t("Call started"),
    "call.ended": t("Call ended"),
    "call.lost_hangup": t("Hang-up lost, call closed"),
    "ivr.node": t("IVR step"),
    "ivr.input": t("Caller's input"),
    "ivr.language": t("Language chosen"),
    "ivr.lookup": t("Caller looked up"),
    "ivr.loop_guard": t("IVR loop stopped"),
    "ivr.retries_exhausted": t("No valid answer after the retries"),
    "ivr.stale_step": t("Stale IVR step ignored"),
    "ivr.knowledge_missing": t("Article missing"),
    "ivr.transfer_result": t("Transfer result"),
    "customer.language": t("Customer's language saved"),
    "queue.entered": t("Entered the queue"),
    "queue.left": t("Left the queue"),
    "queue.overflow": t("Overflowed"),
    "queue.closed": t("Queue closed"),
    "queue.callback_requested": t("Call-back requested"),
    "agent.offered": t("Offered to an agent"),
    "agent.accepted": t("Accepted by the agent"),
    "agent.declined": t("Declined by the agent"),
    "agent.expired": t("Offer rang out"),
    "agent.canceled": t("Offer withdrawn"),
    "agent.bridge_failed": t("Could not connect the agent"),
    "agent.hold": t("Put on hold"),
    "agent.resume": t("Taken off hold"),
    "agent.wrapup": t("Wrap-up saved"),
    "agent.transferred": t("Transferred"),
    "agent.transfer_completed": t("Transfer completed"),
    "agent.consult": t("Consult started"),
    "agent.consult_accepted": t("Consult accepted"),
    "agent.consult_ended": t("Consult ended"),
    "agent.added_party": t("Party added"),
    "bridge.agent_leg": t("Agent dialed"),
    "bridge.agent_answered": t("Agent answered"),
    "bridge.caller": t("Caller connected"),
    "bridge.callback_leg": t("Customer dialed"),
    "bridge.transfer": t("Transfer bridged"),
    "callback.ended": t("Call-back ended"),
    "callback.from_voicemail": t("Call-back of a voicemail"),
    "callback.from_followup": t("Call-back of a follow-up"),
    "voicemail.recorded": t("Voicemail recorded"),
    "voicemail.empty": t("Empty voicemail"),
    "voicemail.stored": t("Voicemail stored"),
    "voicemail.assigned": t("Voicemail assigned"),
    "voicemail.released": t("Voicemail released"),
    "voicemail.handled": t("Voicemail handled"),
    "voicemail.callback": t("Voicemail called back"),
    "recording.requested": t("Recording requested"),
    "recording.started": t("Recording started"),
    "recording.started_twice": t("Recording already started"),
    "recording.start_failed": t("Recording could not start"),
    "recording.paused": t("Recording paused"),
    "recording.resumed": t("Recording resumed"),
    "recording.completed": t("Recording saved"),
    "recording.empty": t("Nothing recorded"),
    "recording.absent": t("Nothing recorded"),
    "recording.failed": t("Recording failed"),
    "recording.status": t("Recording status"),
    "recording.unknown": t("Unknown recording"),
    "supervisor.leg": t("Supervisor dialed"),
    "supervisor.monitor": t("Supervisor listening"),
    "supervisor.coach": t("Supervisor coaching"),
    "supervisor.barge": t("Supervisor joined"),
    "supervisor.moved": t("Supervisor changed mode"),
    "supervisor.took": t("Supervisor took the call"),
    "supervisor.left": t("Supervisor left"),
    "survey.started": t("Survey started"),
    "survey.rated": t("Survey score"),
    "survey.resolved": t("Solved or not"),
    "survey.skipped": t("Survey skipped"),
    "survey.ignored": t("Survey answer ignored"),
    "survey.no_answer": t("No survey answer"),
    "survey.invalid": t("Invalid survey answer"),
    "survey.dial_ended": t("Survey call ended"),
    "kb.sent": t("Article sent by SMS"),
    "kb.sms_status": t("SMS status"),
    "ticket.linked": t("Ticket linked"),
    "followup.opened": t("Follow-up opened"),
    "followup.closed": t("Follow-up closed"),
    "app.error": t("Application error"),
    "status.unknown_call": t("Status of an unknown call"),
  };
  function eventCell(kind) {
    const cell = el("td", EVENT_TEXT[kind] || (kind.startsWith("conference.") ? t("Conference: {what}", { what: kind.slice(11) }) : kind));
    cell.title = kind;
    return cell;
  }

  function render(record) {
    const customer = record.customer;
    document.title = t("Call {who} · Call center", { who: customer ? customer.name : record.from || "" });
    text("call-status", callStatusText(record.status));
    $("call-caller").textContent = customer ? customer.name : t("Unknown caller");
    $("call-number").textContent = record.caller_number || record.from || "";
    $("call-tier").textContent = customer ? customer.tier : "";
    $("call-tier").hidden = !customer;
    $("call-language").textContent = record.language || "";
    text("call-account", customer && customer.account);
    // Known caller: a link to the customer's file; an unknown number: create one, prefilled.
    const number = record.caller_number || "";
    const link = $("call-customer");
    link.hidden = !customer && !number;
    link.textContent = customer ? t("Open customer") : t("Create customer");
    link.href = customer ? `/customers/${customer.id}` : `/customers?phone=${encodeURIComponent(number)}`;
    if (customer && customer.notes) {
      $("call-customer-notes").textContent = customer.notes;
      $("call-customer-notes").hidden = false;
    }
    text("call-started", dateTime(record.started_at));
    text("call-answered", dateTime(record.answered_at));
    text("call-ended", dateTime(record.ended_at));
    text("call-duration", record.duration === null || record.duration === undefined ? "" : seconds(record.duration));
    text("call-queue", record.queue_name || record.queue);
    text("call-waited", record.queue_wait_seconds === null || record.queue_wait_seconds === undefined ? "" : seconds(record.queue_wait_seconds));
    text("call-agent", record.agent ? `${record.agent.name} (${record.agent.number})` : "");
    text("call-direction", record.direction === "outbound" ? t("Outbound (we called)") : t("Inbound"));
    text("call-outcome", record.outcome && outcomeText(record.outcome));
    text("call-disposition", record.disposition_label || record.disposition);
    text("call-csat", record.csat === null || record.csat === undefined ? t("not surveyed") : t("{score} of 5", { score: record.csat }));
    text("call-resolved", record.resolved === true ? t("yes") : record.resolved === false ? t("no") : null);
    text("call-notes", record.notes);
    $("call-details").hidden = false;

    const recordings = record.recordings || [];
    $("call-recordings").replaceChildren(...recordings.map((item) => renderRecording(record, item)));
    $("call-recordings-card").hidden = false;
    if (!recordings.length) $("call-recordings").append(el("li", t("This call was not recorded."), "muted"));

    const voicemails = record.voicemails || [];
    $("call-voicemails").replaceChildren(...voicemails.map(renderVoicemail));
    $("call-voicemails-card").hidden = voicemails.length === 0;

    const knowledge = record.knowledge || [];
    $("call-knowledge").replaceChildren(...(knowledge.length ? knowledge.map((item) => {
      const li = el("li");
      li.append(el("span", clockTime(item.at), "mono muted"), " ", knowledgeText(item));
      return li;
    }) : [el("li", t("Nothing was looked up."), "muted none")]));
    $("call-knowledge-card").hidden = false;

    $("call-timeline").replaceChildren(...(record.timeline || []).map((event) => {
      const tr = el("tr");
      tr.dataset.kind = event.kind;
      tr.append(el("td", clockTime(event.at), "mono"), eventCell(event.kind), el("td", event.node || ""),
        el("td", event.input || "", "mono"), el("td", detailText(event.detail), "detail"));
      return tr;
    }));
    $("call-timeline-card").hidden = false;
  }

  (async () => {
    try {
      render(await api(`/api/calls/${encodeURIComponent(callSid)}`));
    } catch (error) {
      $("call-error").textContent = error.status === 403
        ? t("You may not see this call: it is not one of yours.")
        : error.status === 404 ? t("There is no such call.") : t("The call could not be loaded: {why}", { why: error.message });
    } finally {
      $("call-loading").hidden = true;
    }
  })();
})();
