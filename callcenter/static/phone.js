"use strict";
// The simulator's phone: dial the hotline, hear the prompts (speech synthesis in each
// prompt's language, or the prompt audio), press keys or say something, hang up.
// Also shows the text messages the app sent to the number the phone calls from, and rings
// when the app calls that number (a call-back): answer or decline.
// Tones (a voicemail's beep, the ring) come from WebAudio oscillators; window.phoneTones
// counts the tones started ({beeps, rings}).
// API: callcenter/simulator/phone_page.py. All data is rendered as text (links only
// for http and https URLs).
(() => {
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 300;
  const KEYS = /^[0-9*#]+$/;
  const maxText = Number($("phone").dataset.maxText || 200);
  const speech = ("speechSynthesis" in window && "SpeechSynthesisUtterance" in window)
    ? window.speechSynthesis : null;
  const audio = $("audio");
  let line = null; // {sid, next, ended, timer, failures}
  let sending = Promise.resolve(); // keys and words go out in order

  if (!speech) $("speech-note").hidden = false;

  // -- tones: the beep before a recording, the ring of an incoming call -------------------
  const tones = { context: null, beeps: 0, rings: 0, timer: null };
  window.phoneTones = tones;

  function audioContext() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    if (!tones.context) tones.context = new Context();
    // Browsers start audio only after the user touched the page: any click unlocks it.
    if (tones.context.state === "suspended") tones.context.resume().catch(() => {});
    return tones.context;
  }

  function tone(frequencies, seconds, volume) {
    const context = audioContext();
    if (!context) return false;
    const gain = context.createGain();
    gain.gain.value = volume;
    gain.connect(context.destination);
    const start = context.currentTime;
    for (const frequency of frequencies) {
      const oscillator = context.createOscillator();
      oscillator.frequency.value = frequency;
      oscillator.connect(gain);
      oscillator.start(start);
      oscillator.stop(start + seconds);
    }
    return true;
  }

  function beep() {
    if (tone([1000], 0.5, 0.2)) tones.beeps++;
  }

  function ringOnce() {
    if (tone([440, 480], 1.5, 0.1)) tones.rings++;
  }

  function startRinging() {
    if (tones.timer) return;
    ringOnce();
    tones.timer = setInterval(ringOnce, 4000);
  }

  function stopRinging() {
    clearInterval(tones.timer);
    tones.timer = null;
  }

  // -- what the caller hears: one prompt at a time -------------------------------------
  const player = { queue: [], busy: false, token: 0, timer: null };

  function voiceFor(lang) {
    if (!speech || !lang) return null;
    const want = lang.toLowerCase().replace("_", "-");
    const voices = speech.getVoices() || [];
    const norm = (voice) => String(voice.lang || "").toLowerCase().replace("_", "-");
    return voices.find((v) => norm(v) === want) ||
      voices.find((v) => norm(v).split("-")[0] === want.split("-")[0]) || null;
  }

  function estimateMs(text) {
    const wide = (String(text).match(/[\u1100-\u11ff\u2e80-\ua4cf\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]/g) || []).length;
    return 3000 + wide * 450 + (String(text).length - wide) * 120;
  }

  function play(item) {
    player.queue.push(item);
    if (!player.busy) nextPrompt();
  }

  function nextPrompt() {
    clearTimeout(player.timer);
    const item = player.queue.shift();
    if (!item) { player.busy = false; return; }
    player.busy = true;
    const token = ++player.token;
    const done = () => { if (token === player.token) nextPrompt(); };
    // Some speech engines never report the end of long texts: move on regardless.
    player.timer = setTimeout(done, item.maxMs);
    try {
      if (item.kind === "say") {
        const utterance = new SpeechSynthesisUtterance(item.text);
        if (item.lang) utterance.lang = item.lang;
        const voice = voiceFor(item.lang);
        if (voice) utterance.voice = voice;
        utterance.onend = done;
        utterance.onerror = done;
        speech.speak(utterance);
      } else {
        audio.onended = done;
        audio.onerror = done;
        audio.src = item.url;
        const started = audio.play();
        if (started && started.catch) started.catch(done);
      }
    } catch (error) {
      done();
    }
  }

  function hush() {
    player.queue = [];
    player.token++;
    player.busy = false;
    clearTimeout(player.timer);
    if (speech) speech.cancel();
    audio.pause();
    audio.removeAttribute("src");
  }

  function sameOrigin(url) {
    try { return new URL(url, location.href).origin === location.origin; } catch (error) { return false; }
  }

  function hear(event) {
    const times = Math.min(Math.max(Number(event.loop) || 1, 1), 5);
    for (let i = 0; i < times; i++) {
      if (event.kind === "say" && speech && event.text) {
        play({ kind: "say", text: event.text, lang: event.lang || event.language || "", maxMs: estimateMs(event.text) });
      } else if (event.kind === "play" && event.url && sameOrigin(event.url)) {
        const seconds = Number(event.seconds) || 10;
        play({ kind: "play", url: new URL(event.url, location.href).href, maxMs: seconds * 1000 + 5000 });
      }
    }
  }

  // -- the transcript -------------------------------------------------------------------
  function show(event) {
    const item = el("li", null, event.kind);
    item.dataset.kind = event.kind;
    if (event.kind === "say" || event.kind === "play") item.classList.add("heard");
    item.append(el("span", `${Math.round(event.at || 0)}s`, "at"), el("span", event.line || event.text));
    if (event.lang) item.lang = event.lang;
    $("transcript").append(item);
    item.scrollIntoView({ block: "nearest" });
  }

  // -- recording a message -------------------------------------------------------------
  const recording = { timer: null, started: 0 };

  function startRecording(event) {
    stopRecording();
    if (event.beep) beep();
    const keys = String(event.finish_on_key || "");
    $("recording-hint").textContent = keys && keys.length <= 2
      ? t("press {keys} or hang up to finish", { keys: keys.split("").join(t(" or ")) })
      : t("hang up to finish");
    recording.started = Date.now();
    const tick = () => {
      const seconds = Math.floor((Date.now() - recording.started) / 1000);
      $("recording-time").textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
    };
    tick();
    recording.timer = setInterval(tick, 500);
    $("recording").hidden = false;
    $("phone").dataset.recording = "on";
  }

  function stopRecording() {
    clearInterval(recording.timer);
    recording.timer = null;
    $("recording").hidden = true;
    delete $("phone").dataset.recording;
  }

  // -- the keypad buffer: what the call keeps for its next menu -------------------------
  function showHeld(held) {
    const keys = (held || []).map(String);
    $("held").hidden = keys.length === 0;
    $("held-keys").textContent = keys.join(" ");
  }

  // -- the call -------------------------------------------------------------------------
  // The states by their English names (data-state), shown in the page's language.
  const STATES = {
    idle: t("idle"), dialling: t("dialling"), "in call": t("in call"), ringing: t("ringing"), ended: t("ended"),
  };

  function setState(state) {
    const pill = $("state");
    pill.textContent = STATES[state] || state;
    pill.dataset.state = state;
    const live = state === "in call" || state === "dialling";
    $("call").disabled = live || state === "ringing";
    $("from").disabled = live || state === "ringing";
    $("to").disabled = live || state === "ringing";
    $("hangup").disabled = !live;
    for (const button of $("dialpad").querySelectorAll("button")) button.disabled = !live;
    for (const id of ["keys", "send-keys", "say", "send-say"]) $(id).disabled = !live;
  }

  function error(text) { $("error").textContent = text || ""; }

  // -- text messages to the phone's number ----------------------------------------------
  const MESSAGES_MS = 2000;
  const NUMBER = /^\+[1-9][0-9]{3,15}$/;
  const LINK = /\bhttps?:\/\/[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+/gi;
  const TRAILING = /[.,;:!?'")\]]+$/;
  let shown = "";

  function linkTarget(text) {
    try {
      const url = new URL(text);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function withLinks(text) {
    const parts = [];
    let last = 0;
    for (const match of text.matchAll(LINK)) {
      const url = match[0].replace(TRAILING, "");
      const href = linkTarget(url);
      if (!href) continue;
      parts.push(text.slice(last, match.index));
      const link = el("a", url);
      link.href = href;
      link.rel = "noopener noreferrer";
      link.target = "_blank";
      parts.push(link);
      last = match.index + url.length;
    }
    parts.push(text.slice(last));
    return parts;
  }

  // A text message's status as Twilio names it, in the page's language.
  const MESSAGE_STATUS = {
    queued: t("queued"), sending: t("sending"), sent: t("sent"), delivered: t("delivered"),
    undelivered: t("undelivered"), failed: t("failed"), received: t("received"),
  };
  function messageStatus(status) { return MESSAGE_STATUS[status] || status; }

  function showMessages(number, messages) {
    const key = JSON.stringify([number, messages.map((m) => [m.sid, m.status])]);
    if (key === shown) return;
    shown = key;
    $("messages-number").textContent = number;
    $("no-messages").hidden = messages.length > 0;
    $("messages").replaceChildren(...messages.map((message) => {
      const item = el("li");
      item.dataset.sid = message.sid;
      const time = clockTime(message.date_created);
      item.append(el("span", t("{time} · from {from} · {status}",
        { time, from: message.from || t("the hotline"), status: messageStatus(message.status) }), "meta"));
      const body = el("span", null, "body");
      body.append(...withLinks(String(message.body || "")));
      for (const url of message.media || []) {
        body.append(" ", ...withLinks(String(url)));
      }
      item.append(body);
      return item;
    }));
  }

  async function pollMessages() {
    const number = $("from").value.trim();
    try {
      if (NUMBER.test(number)) {
        const response = await fetch(`/phone/messages?number=${encodeURIComponent(number)}`,
          { headers: { Accept: "application/json" }, cache: "no-store" });
        if (response.ok) {
          const data = await response.json();
          if (data.number === $("from").value.trim()) showMessages(data.number, data.messages || []);
        }
      } else {
        showMessages("", []);
      }
    } catch (e) {
      // the next poll tries again
    }
    setTimeout(pollMessages, MESSAGES_MS);
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body || {}),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    return data;
  }

  function notice(text) { $("notice").textContent = text || ""; }

  function reset() {
    error("");
    notice("");
    hush();
    stopRecording();
    showHeld([]);
    $("transcript").replaceChildren();
    $("call-sid").textContent = "";
  }

  // -- calls to this phone's number -----------------------------------------------------
  const INCOMING_MS = 1000;
  let ringing = null; // {sid, from}

  function showRinging(call) {
    ringing = { sid: call.call_sid, from: call.from };
    $("incoming-from").textContent = call.from;
    $("incoming").hidden = false;
    notice("");
    setState("ringing");
    startRinging();
  }

  function stopShowingRinging(text) {
    ringing = null;
    stopRinging();
    $("incoming").hidden = true;
    notice(text);
    if (!line || line.ended) setState(line ? "ended" : "idle");
  }

  async function pollIncoming() {
    const number = $("from").value.trim();
    try {
      if (NUMBER.test(number)) {
        const response = await fetch(`/phone/incoming?number=${encodeURIComponent(number)}`,
          { headers: { Accept: "application/json" }, cache: "no-store" });
        if (response.ok) {
          const data = await response.json();
          const calls = data.number === $("from").value.trim() ? data.calls || [] : [];
          const still = ringing && calls.find((call) => call.call_sid === ringing.sid);
          if (ringing && !still) stopShowingRinging(t("Missed call from {number}", { number: ringing.from }));
          if (!ringing && calls.length && (!line || line.ended)) showRinging(calls[0]);
        }
      }
    } catch (e) {
      // the next poll tries again
    }
    setTimeout(pollIncoming, INCOMING_MS);
  }

  async function answer() {
    if (!ringing) return;
    const call = ringing;
    audioContext();
    try {
      await post(`/phone/calls/${encodeURIComponent(call.sid)}/answer`, {});
    } catch (e) {
      stopShowingRinging(t("Could not answer: {why}", { why: e.message }));
      return;
    }
    ringing = null;
    stopRinging();
    $("incoming").hidden = true;
    reset();
    line = { sid: call.sid, next: 0, ended: false, timer: null, failures: 0 };
    $("call-sid").textContent = call.sid;
    notice(t("Call from {number}", { number: call.from }));
    setState("in call");
    poll();
  }

  async function decline() {
    if (!ringing) return;
    const call = ringing;
    stopShowingRinging(t("Declined the call from {number}", { number: call.from }));
    post(`/phone/calls/${encodeURIComponent(call.sid)}/reject`, {}).catch((e) => error(e.message));
  }

  async function dial(event) {
    event.preventDefault();
    if ((line && !line.ended) || ringing) return;
    audioContext();
    reset();
    setState("dialling");
    try {
      const data = await post("/phone/calls", { from: $("from").value.trim(), to: $("to").value });
      line = { sid: data.call_sid, next: 0, ended: false, timer: null, failures: 0 };
      $("call-sid").textContent = data.call_sid;
      setState("in call");
      poll();
    } catch (e) {
      error(t("Could not call: {why}", { why: e.message }));
      setState("idle");
    }
  }

  const GONE = t("the call is gone");

  async function poll() {
    const current = line;
    if (!current || current.ended) return;
    try {
      const response = await fetch(`/phone/calls/${encodeURIComponent(current.sid)}/events?after=${current.next}`,
        { headers: { Accept: "application/json" }, cache: "no-store" });
      if (response.status === 404) throw new Error(GONE);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const data = await response.json();
      if (current !== line) return;
      current.failures = 0;
      for (const item of data.events) {
        show(item);
        // The call took the caller's input: like on a phone, the prompt stops there.
        if (item.kind === "input") hush();
        if (item.kind === "recording") startRecording(item);
        if (item.kind === "record") stopRecording();
        hear(item);
      }
      current.next = data.next;
      showHeld(data.held);
      if (data.ended) {
        current.ended = true;
        stopRecording();
        showHeld([]);
        setState("ended");
        return;
      }
    } catch (e) {
      current.failures++;
      if (current.failures >= 20 || e.message === GONE) {
        current.ended = true;
        stopRecording();
        error(t("Lost the call: {why}", { why: e.message }));
        setState("ended");
        return;
      }
    }
    if (current === line) current.timer = setTimeout(poll, POLL_MS);
  }

  function send(path, body) {
    const current = line;
    if (!current || current.ended) return;
    sending = sending.then(() => post(`/phone/calls/${encodeURIComponent(current.sid)}/${path}`, body))
      .then(() => error(""), (e) => error(e.message));
  }

  function press(keys) {
    if (!KEYS.test(keys)) { error(t("Keys are 0-9, * and #.")); return; }
    send("keys", { keys });
  }

  function hangUp() {
    if (!line || line.ended) return;
    hush();
    const sid = line.sid;
    post(`/phone/calls/${encodeURIComponent(sid)}/hangup`, {}).catch((e) => error(e.message));
  }

  $("dial").addEventListener("submit", dial);
  $("hangup").addEventListener("click", hangUp);
  $("answer").addEventListener("click", answer);
  $("reject").addEventListener("click", decline);
  // Audio may start only after a gesture: the first touch of the page unlocks the ring.
  document.addEventListener("pointerdown", audioContext, { once: true });
  $("dialpad").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-key]");
    if (button && !button.disabled) press(button.dataset.key);
  });
  $("keys-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const keys = $("keys").value.replace(/\s+/g, "");
    if (!keys) return;
    press(keys);
    $("keys").value = "";
  });
  $("say-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("say").value.trim().slice(0, maxText);
    if (!text) return;
    send("say", { text });
    $("say").value = "";
  });
  document.addEventListener("keydown", (event) => {
    if (!line || line.ended || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))) return;
    if (KEYS.test(event.key) && event.key.length === 1) {
      event.preventDefault();
      press(event.key);
    }
  });
  window.addEventListener("pagehide", () => {
    if (line && !line.ended) {
      fetch(`/phone/calls/${encodeURIComponent(line.sid)}/hangup`, {
        method: "POST", keepalive: true, headers: { "Content-Type": "application/json" }, body: "{}",
      }).catch(() => {});
    }
  });
  if (speech && "onvoiceschanged" in speech) speech.onvoiceschanged = () => speech.getVoices();
  $("from").addEventListener("change", () => { shown = ""; });
  setState("idle");
  pollMessages();
  pollIncoming();
})();
