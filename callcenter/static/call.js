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
    head.append(el("strong", item.status), " · ",
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
      " · ", el("span", item.status), " · ", el("span", dateTime(item.created_at)));
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

  function render(record) {
    const customer = record.customer;
    document.title = t("Call {who} · Call center", { who: customer ? customer.name : record.from || "" });
    text("call-status", record.status);
    $("call-caller").textContent = customer ? customer.name : t("Unknown caller");
    $("call-number").textContent = record.caller_number || record.from || "";
    $("call-tier").textContent = customer ? customer.tier : "";
    $("call-tier").hidden = !customer;
    $("call-language").textContent = record.language || "";
    text("call-account", customer && customer.account);
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
    text("call-outcome", record.outcome);
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
      tr.append(el("td", clockTime(event.at), "mono"), el("td", event.kind), el("td", event.node || ""),
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
