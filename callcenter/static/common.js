"use strict";
// Shared by the consoles: the page's language (t), text-only rendering (never innerHTML with
// data), the JSON API, times, the recent-calls table, and logout.

// -- the page's language: <html lang>, and the scripts' strings (static/i18n/<lang>.json) ---

const LOCALE = document.documentElement.lang || "en";
const CATALOG = (() => {
  const data = document.getElementById("i18n-catalog");
  try {
    return data ? JSON.parse(data.textContent) : {};
  } catch (error) {
    return {};
  }
})();
// t("Sent to {to}", { to }) → the catalog's text for the English key, "{name}" filled in;
// the English itself when the page is English (or the key is missing: the tests catch that).
function t(key, params) {
  const text = Object.prototype.hasOwnProperty.call(CATALOG, key) ? CATALOG[key] : key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}
// Values the API sends as codes (it keeps them raw), shown in the page's language.
const AGENT_STATUS_TEXT = { available: t("available"), away: t("away"), offline: t("offline"),
  reserved: t("reserved"), ringing: t("ringing"), "on-call": t("on-call"), "wrap-up": t("wrap-up") };
function agentStatusText(status) { return AGENT_STATUS_TEXT[status] || status; }
// A call's status (Twilio's names) and its outcome (what became of the caller).
const CALL_STATUS_TEXT = { queued: t("queued"), ringing: t("ringing"), "in-progress": t("under way"),
  completed: t("completed"), busy: t("busy"), failed: t("failed"), "no-answer": t("no answer"), canceled: t("canceled") };
function callStatusText(status) { return CALL_STATUS_TEXT[status] || status; }
const OUTCOME_TEXT = { queued: t("waiting in a queue"), answered: t("answered"), abandoned: t("abandoned"),
  callback: t("call-back requested"), "callback-failed": t("call-back failed"), voicemail: t("voicemail"),
  overflow: t("overflowed"), transferred: t("transferred"), redirected: t("redirected"), failed: t("failed") };
function outcomeText(outcome) { return OUTCOME_TEXT[outcome] || outcome; }
// A stored recording's status; a voicemail's and a ticket's.
const RECORDING_STATUS_TEXT = { requested: t("requested"), "in-progress": t("recording"), paused: t("paused"),
  completed: t("completed"), absent: t("nothing recorded"), failed: t("failed") };
function recordingStatusText(status) { return RECORDING_STATUS_TEXT[status] || status; }
const VOICEMAIL_STATUS_TEXT = { new: t("New"), assigned: t("Assigned"), handled: t("Handled") };
function voicemailStatusText(status) { return VOICEMAIL_STATUS_TEXT[status] || status; }
const TICKET_STATUS_TEXT = { open: t("open"), in_progress: t("in progress"), resolved: t("resolved"), closed: t("closed") };
function ticketStatusText(status) { return TICKET_STATUS_TEXT[status] || String(status || "").replace("_", " "); }
// What happened to a caller we missed (a follow-up's event: `reason` and its facts).
const UNREACHED_TEXT = { callback_busy: t("the line was busy"), callback_no_answer: t("no answer"),
  callback_failed: t("the call failed"), callback_canceled: t("hung up before they answered") };
function missedEventText(event) {
  const queue = event.queue_name || event.queue || t("the queue");
  if (event.reason === "abandoned") {
    const wait = event.waited_seconds == null ? t("an unknown time") : seconds(event.waited_seconds);
    return t("Waited {wait} in {queue}, hung up", { wait, queue });
  }
  if (event.reason === "cut_off") return t("Cut off in {queue}: the line dropped before the agent could speak", { queue });
  if (event.reason in UNREACHED_TEXT) return t("Called back, not reached: {how}", { how: UNREACHED_TEXT[event.reason] });
  if (event.reason === "voicemail") {
    return t("Left a voicemail, still unhandled after {minutes} min", { minutes: event.voicemail_minutes });
  }
  return event.text || event.reason;
}
// A follow-up's outcome: the config's label, or the built-in closing with its voicemail.
function followupOutcomeText(item) {
  return item.outcome === "voicemail_handled" ? t("Closed with its voicemail") : item.outcome_label || item.outcome;
}
// A ticket's promise, to tell the caller: "Repair: we promise an answer within 72 hours, by
// Sat 28 Nov 10:00." (the deadline in the center's time zone, the page's language).
function hoursText(hours) {
  return hours === 1 ? t("{hours} hour", { hours }) : t("{hours} hours", { hours });
}
const promiseClock = LOCALE === "en" ? null : centerFormat({ month: "long", day: "numeric",
  weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
function promiseText(ticket) {
  const at = parseTime(ticket.due_at);
  if (!at || ticket.promised_hours == null) return ticket.promise || "";
  let when;
  if (promiseClock) {
    when = promiseClock.format(at);
  } else {
    const p = {};
    for (const { type, value } of centerFormat({ weekday: "short", day: "numeric", month: "short", hour: "2-digit",
      minute: "2-digit", hourCycle: "h23" }).formatToParts(at)) p[type] = value;
    when = `${p.weekday} ${p.day} ${p.month} ${p.hour}:${p.minute}`;
  }
  return t("{category}: we promise an answer within {hours}, by {when}.",
    { category: ticket.category_label, hours: hoursText(ticket.promised_hours), when });
}
function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}
// What the consoles show when their socket cannot connect. Opened at an origin the server
// refuses (another host name or port than the public URL), it names the URL to use.
function connectProblem(error) {
  const { publicUrl, origins } = document.body.dataset;
  if (publicUrl && origins && !origins.split(" ").includes(location.origin)) {
    return t("Cannot connect from {origin}: open this console at {url}",
      { origin: location.origin, url: `${publicUrl}${location.pathname}` });
  }
  return t("Cannot connect: {why}", { why: error.message });
}
// A duration in the page's language: "1m 12s", "1分12秒" (Intl's unit formats).
const durationUnits = (() => {
  const unit = (name) => {
    try {
      return new Intl.NumberFormat(LOCALE, { style: "unit", unit: name, unitDisplay: "narrow" });
    } catch (error) {
      return null;
    }
  };
  return { minute: unit("minute"), second: unit("second") };
})();
function seconds(total) {
  const s = Math.max(0, Math.round(total || 0));
  const { minute, second } = durationUnits;
  if (!minute || !second || LOCALE === "en") {
    return s >= 60 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${s}s`;
  }
  return s >= 60 ? `${minute.format(Math.floor(s / 60))}${second.format(s % 60)}` : second.format(s);
}
// The queue table (#queues): callers waiting, call-backs pending, the longest wait (counted
// up here every second from when it began, `oldest_since`), agents free.
function waitedSince(since) {
  return seconds((Date.now() - Date.parse(since)) / 1000);
}
function renderQueues(rows) {
  const body = document.getElementById("queues");
  if (!body) return;
  body.replaceChildren(...rows.map((q) => {
    const tr = el("tr");
    tr.dataset.queue = q.name;
    const longest = el("td", q.oldest_since ? waitedSince(q.oldest_since) : seconds(0));
    if (q.oldest_since) longest.dataset.since = q.oldest_since;
    const cells = [el("td", q.display_name), el("td", q.waiting), el("td", q.callbacks || 0), longest,
      el("td", q.agents_available)];
    ["name", "waiting", "callbacks", "longest-wait", "agents-available"].forEach((field, i) => {
      cells[i].dataset.field = field;
    });
    tr.append(...cells);
    return tr;
  }));
}
setInterval(() => {
  document.querySelectorAll("#queues td[data-since]").forEach((td) => {
    td.textContent = waitedSince(td.dataset.since);
  });
}, 1000);

// -- the JSON API ----------------------------------------------------------------------------

// fetch JSON; resolves to the answer, rejects with an Error carrying `status` and the
// server's `{"error": ...}` message. POSTs always send a JSON body (`{}` at least).
async function api(url, body) {
  const options = { headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body || {});
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch (error) {
    throw Object.assign(new Error(t("The server cannot be reached")), { status: 0 });
  }
  let data = null;
  try {
    data = await response.json();
  } catch (error) {
    data = null;
  }
  if (!response.ok || data === null) {
    const message = (data && data.error) || `${response.status} ${response.statusText}`.trim();
    if (response.status === 401) location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
    throw Object.assign(new Error(message), { status: response.status });
  }
  return data;
}

// -- times (shown in the call center's time zone, named in every page's top bar) ------------

function pad2(n) { return String(n).padStart(2, "0"); }
function parseTime(iso) {
  const at = iso ? new Date(iso) : null;
  return at && !Number.isNaN(at.getTime()) ? at : null;
}
function centerFormat(options) {
  try {
    return new Intl.DateTimeFormat(LOCALE, { ...options, timeZone: document.body.dataset.timezone });
  } catch (error) {  // a zone this browser does not know: its own
    return new Intl.DateTimeFormat(LOCALE, options);
  }
}
// English pages keep the ISO-like "2024-05-01 14:03:09" (parts from en-CA); other languages
// take their own date format from Intl ("2024年5月1日 14:03:09"), always in the center's zone.
const centerClock = (() => {
  const options = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
                    minute: "2-digit", second: "2-digit", hourCycle: "h23" };
  try {
    return new Intl.DateTimeFormat("en-CA", { ...options, timeZone: document.body.dataset.timezone });
  } catch (error) {
    return new Intl.DateTimeFormat("en-CA", options);
  }
})();
const localDateTime = LOCALE === "en" ? null : centerFormat({
  year: "numeric", month: "long", day: "numeric", hour: "2-digit", minute: "2-digit",
  second: "2-digit", hourCycle: "h23" });
function centerParts(at) {
  const parts = {};
  for (const { type, value } of centerClock.formatToParts(at)) parts[type] = value;
  return parts;
}
function clockTime(iso) {
  const at = parseTime(iso);
  if (!at) return "";
  const p = centerParts(at);
  return `${p.hour}:${p.minute}:${p.second}`;
}
function dateTime(iso) {
  const at = parseTime(iso);
  if (!at) return "";
  if (localDateTime) return localDateTime.format(at);
  const p = centerParts(at);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}
const relative = LOCALE === "en" ? null : new Intl.RelativeTimeFormat(LOCALE, { numeric: "auto" });
function age(iso) {
  const at = parseTime(iso);
  if (!at) return "";
  const s = Math.max(0, Math.round((Date.now() - at.getTime()) / 1000));
  if (relative) {
    if (s < 60) return relative.format(0, "second");
    if (s < 3600) return relative.format(-Math.floor(s / 60), "minute");
    if (s < 86400) return relative.format(-Math.floor(s / 3600), "hour");
    return relative.format(-Math.floor(s / 86400), "day");
  }
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

// -- search snippets --------------------------------------------------------------------------

// The server sends snippets HTML-escaped with only <mark>…</mark> around matches: build
// text nodes and <mark> elements from them, never parse them as HTML.
function decodeEntities(text) {
  const named = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, name) => {
    if (name[0] === "#") {
      const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return Object.prototype.hasOwnProperty.call(named, name) ? named[name] : whole;
  });
}
function markedText(snippet) {
  const fragment = document.createDocumentFragment();
  let marked = false;
  for (const part of String(snippet || "").split(/(<mark>|<\/mark>)/)) {
    if (part === "<mark>" || part === "</mark>") {
      marked = part === "<mark>";
    } else if (part) {
      const text = decodeEntities(part);
      fragment.append(marked ? el("mark", text) : text);
    }
  }
  return fragment;
}

// -- recent calls: any <tbody data-recent-calls="/api/calls?..."> -----------------------------

function recentCalls(body) {
  const error = document.getElementById(body.dataset.errorId || "");
  async function refresh() {
    try {
      const data = await api(body.dataset.recentCalls);
      if (error) error.textContent = "";
      body.replaceChildren(...(data.calls.length ? data.calls.map((call) => {
        const tr = el("tr");
        tr.dataset.callSid = call.call_sid;
        const link = el("a", dateTime(call.started_at));
        link.href = `/calls/${encodeURIComponent(call.call_sid)}`;
        const when = el("td");
        when.append(link);
        tr.append(when, el("td", call.customer || call.from || ""), el("td", call.direction === "outbound" ? t("↗ Outbound") : call.queue_name || call.queue || t("IVR")),
          el("td", call.disposition_label || call.disposition || outcomeText(call.outcome) || ""), el("td", call.agent || "", "mono"),
          el("td", call.duration === null || call.duration === undefined ? "" : seconds(call.duration)),
          el("td", surveyText(call), "csat"));
        return tr;
      }) : [emptyRow(7, t("No calls yet"))]));
    } catch (failure) {
      if (error) error.textContent = t("Recent calls: {why}", { why: failure.message });
    }
  }
  refresh();
  const every = Number(body.dataset.refreshSeconds || 0);
  if (every > 0) setInterval(refresh, every * 1000);
  return refresh;
}
// The caller's post-call survey answers: "4/5 · solved", "2/5 · not solved", "" when none.
function surveyText(call) {
  if (call.csat === null || call.csat === undefined) return "";
  const solved = call.resolved === true ? t(" · solved") : call.resolved === false ? t(" · not solved") : "";
  return `${call.csat}/5${solved}`;
}
function emptyRow(columns, text) {
  const tr = el("tr");
  const td = el("td", text, "muted");
  td.colSpan = columns;
  tr.append(td);
  return tr;
}
const refreshRecentCalls = (() => {
  const refreshers = [...document.querySelectorAll("[data-recent-calls]")].map(recentCalls);
  return () => refreshers.forEach((refresh) => refresh());
})();

// A console whose session ended (logout anywhere, password change, deactivation) is told
// `session:ended` and disconnected by the server: say so, then go to the login page.
function endOnSignOut(socket) {
  let leaving = false;
  const say = () => {
    const where = document.getElementById("connection");
    if (where) {
      where.className = "error";
      where.textContent = t("You were signed out");
    }
  };
  const leave = () => {
    if (leaving) return;
    leaving = true;
    say();
    setTimeout(() => location.assign(`/login?next=${encodeURIComponent(location.pathname)}`), 1500);
  };
  socket.on("session:ended", leave);
  socket.on("disconnect", async (reason) => {
    if (leaving) setTimeout(say, 0); // after the page's own "disconnected" text
    if (leaving || reason !== "io server disconnect") return;
    const me = await fetch("/api/me", { credentials: "same-origin" }).catch(() => null);
    if (me && me.status === 401) leave();
  });
}

const logout = document.getElementById("logout");
if (logout) {
  logout.addEventListener("click", async () => {
    await fetch("/api/logout", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    location.assign("/login");
  });
}
// The top bar's language select: the agent's stored choice ("" follows the browser).
const uiLanguage = document.getElementById("ui-language");
if (uiLanguage) {
  uiLanguage.addEventListener("change", async () => {
    await api("/api/me/language", { ui_language: uiLanguage.value || null });
    location.reload();
  });
}

// The page's font list, for text drawn on a canvas (charts), which does not inherit it.
function pageFont() {
  return getComputedStyle(document.body).fontFamily;
}
