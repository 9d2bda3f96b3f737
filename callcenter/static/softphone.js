"use strict";
// The browser softphone of the agent console: the bridge rings the agent's `client:` leg
// here. One interface, two lines behind it (docs/agent-protocol.md#the-softphone):
//   line.register() / line.unregister()        be reachable (or not) as client:<username>
//   line.accept() / reject() / disconnect()      the ringing or connected call
//   line.mute(bool) / line.sendDigits("1#")      microphone, DTMF
//   line.on(event, fn): "registered", "unregistered", "incoming" ({sid, from}),
//     "accepted", "disconnected" (reason), "muted" (bool), "error" (message)
// TwilioLine wraps the Voice SDK's Device (a real Twilio account); SimulatorLine drives the
// simulator's /phone/client API with the same token (no account: no audio, same states).
// The console's socket (agent.js) tells the server when the line is ready or cannot register
// (`softphone:state`): an agent taking calls here is not offered calls while it cannot ring.
(() => {
  const panel = document.getElementById("softphone");
  if (!panel) return;
  const $ = (id) => document.getElementById(id);

  class Emitter {
    constructor() { this.handlers = {}; }
    on(event, fn) { (this.handlers[event] = this.handlers[event] || []).push(fn); }
    emit(event, data) { (this.handlers[event] || []).forEach((fn) => fn(data)); }
  }

  class SimulatorLine extends Emitter {
    constructor(fetchToken) {
      super();
      this.fetchToken = fetchToken;
      this.token = null;
      this.timer = null;
      this.call = null; // {sid, from, connected}
    }
    async request(path, body) {
      const options = { headers: { Authorization: `Bearer ${this.token}`, Accept: "application/json" } };
      if (body !== undefined) {
        options.method = "POST";
        options.headers["Content-Type"] = "application/json";
        options.body = JSON.stringify(body);
      }
      let response = await fetch(`/phone/client${path}`, options);
      if (response.status === 401) { // expired: a fresh token, once
        this.token = (await this.fetchToken()).token;
        options.headers.Authorization = `Bearer ${this.token}`;
        response = await fetch(`/phone/client${path}`, options);
      }
      const data = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(data.error || `${response.status}`);
      return data;
    }
    async register() {
      if (this.timer) return;
      this.token = this.token || (await this.fetchToken()).token;
      this.timer = setInterval(() => this.poll(), 1000);
      await this.poll();
      this.emit("registered");
    }
    unregister() {
      clearInterval(this.timer);
      this.timer = null;
      this.emit("unregistered");
    }
    async poll() {
      try {
        if (this.call) {
          const state = await this.request(`/calls/${this.call.sid}`);
          if (state.ended) this.ended(state.ended_reason || state.status);
          else if (!this.call.connected && state.status === "in-progress") {
            this.call.connected = true;
            this.emit("accepted");
          }
          return;
        }
        const answer = await this.request("/incoming");
        const ringing = answer.calls[0];
        if (ringing && !this.call) {
          this.call = { sid: ringing.call_sid, from: ringing.from, connected: false };
          this.emit("incoming", { sid: ringing.call_sid, from: ringing.from });
        }
      } catch (error) {
        this.emit("error", error.message);
      }
    }
    ended(reason) {
      this.call = null;
      this.emit("disconnected", reason);
    }
    async act(action) {
      if (!this.call) return;
      const sid = this.call.sid;
      try {
        await this.request(`/calls/${sid}/${action}`, {});
      } catch (error) {
        this.emit("error", error.message);
      }
      if (action !== "answer") this.ended(action === "reject" ? "declined" : "hung up");
      else this.poll();
    }
    accept() { return this.act("answer"); }
    reject() { return this.act("reject"); }
    disconnect() { return this.act("hangup"); }
    async mute(on) {
      if (!this.call) return;
      try {
        const state = await this.request(`/calls/${this.call.sid}/mute`, { muted: on });
        this.emit("muted", state.muted);
      } catch (error) { this.emit("error", error.message); }
    }
    async sendDigits(keys) {
      if (!this.call) return;
      try { await this.request(`/calls/${this.call.sid}/keys`, { keys }); } catch (error) { this.emit("error", error.message); }
    }
    setDevices() {} // no audio in the simulator
  }

  // How long registering may take before the console says Twilio cannot be reached. The SDK
  // keeps retrying its WebSocket without an event; "registered" still follows if it gets through.
  const REGISTER_WAIT_MS = 10000;

  class TwilioLine extends Emitter {
    constructor(fetchToken, token) {
      super();
      this.fetchToken = fetchToken;
      this.device = new window.Twilio.Device(token, { closeProtection: true, codecPreferences: ["opus", "pcmu"] });
      this.call = null;
      this.stalled = null;
      this.device.on("registered", () => { clearTimeout(this.stalled); this.emit("registered"); });
      this.device.on("unregistered", () => this.emit("unregistered"));
      this.device.on("error", (error) => {
        const message = error.message || String(error);
        if (this.device.state === "registering") this.emit("unreachable", message);
        this.emit("error", message);
      });
      this.device.on("tokenWillExpire", async () => this.device.updateToken((await this.fetchToken()).token));
      this.device.on("incoming", (call) => {
        if (this.call) { call.reject(); return; } // one call at a time
        this.call = call;
        call.on("accept", () => this.emit("accepted"));
        call.on("mute", (muted) => this.emit("muted", muted));
        const over = (reason) => () => { if (this.call === call) { this.call = null; this.emit("disconnected", reason); } };
        call.on("disconnect", over("hung up"));
        call.on("cancel", over("the caller left"));
        call.on("reject", over("declined"));
        call.on("error", (error) => this.emit("error", error.message || String(error)));
        this.emit("incoming", { sid: call.parameters.CallSid, from: call.parameters.From });
      });
    }
    register() {
      clearTimeout(this.stalled);
      this.stalled = setTimeout(() => {
        if (this.device.state === "registering") this.emit("unreachable", null);
      }, REGISTER_WAIT_MS);
      return this.device.register();
    }
    unregister() { return this.device.state === "registered" ? this.device.unregister() : undefined; }
    accept() { if (this.call) this.call.accept(); }
    reject() { if (this.call) this.call.reject(); }
    disconnect() { if (this.call) this.call.disconnect(); }
    mute(on) { if (this.call) this.call.mute(on); }
    sendDigits(keys) { if (this.call) this.call.sendDigits(keys); }
    setDevices(input, output) {
      const audio = this.device.audio;
      if (!audio) return;
      if (input) audio.setInputDevice(input).catch((error) => this.emit("error", error.message));
      if (output && audio.isOutputSelectionSupported) audio.speakerDevices.set(output).catch((error) => this.emit("error", error.message));
    }
  }

  // -- the panel ------------------------------------------------------------------------------

  const state = $("sp-state");
  const timer = $("sp-timer");
  let line = null;
  let prefs = { takes_calls_on: "browser", auto_answer: false, phone: null };
  let presence = "offline";
  let caller = "";
  let talkingSince = null;
  let muted = false;
  let phase = "off"; // off, registering, unreachable, ready, ringing, connected, ended
  let socket = null; // the console's /agent socket (agent.js attaches it)
  let told = null; // what the server was last told: {state, reason}
  let wanted = null; // what it should be told
  let notOffered = false; // the server says this agent is not offered calls (agent:state)

  function show(next, text) {
    phase = next;
    panel.dataset.state = next;
    state.textContent = text;
    $("sp-answer").disabled = next !== "ringing";
    $("sp-decline").disabled = next !== "ringing";
    $("sp-mute").disabled = next !== "connected";
    $("sp-keypad-toggle").disabled = next !== "connected";
    $("sp-hangup").disabled = next !== "connected";
    if (next !== "connected") { $("sp-keypad").hidden = true; timer.textContent = ""; }
    $("sp-mute").textContent = muted ? t("Unmute") : t("Mute");
    $("sp-mute").setAttribute("aria-pressed", String(muted));
  }
  function connectedText() {
    const s = Math.floor((Date.now() - talkingSince) / 1000);
    const mmss = `${pad2(Math.floor(s / 60))}:${pad2(s % 60)}`;
    timer.textContent = mmss;
    return `${muted ? t("Muted") : t("Connected")} ${mmss}`;
  }
  setInterval(() => { if (phase === "connected") state.textContent = connectedText(); }, 1000);

  // The server routes by what it is told: "unreachable" keeps calls away from this agent.
  function report(state, reason) {
    wanted = { state, reason: reason ? String(reason).slice(0, 120) : null };
    tell();
  }
  function tell() {
    if (!socket || !socket.connected || !wanted) return;
    if (told && told.state === wanted.state) return;
    const sent = wanted;
    socket.emit("softphone:state", sent, (answer) => {
      if (answer && answer.ok) told = sent;
    });
  }
  function showNote() {
    const note = $("sp-note");
    note.textContent = t("Softphone not ready — you are not offered calls");
    note.hidden = !(notOffered && prefs.takes_calls_on === "browser");
  }

  async function fetchToken() {
    return api("/api/voice/token");
  }

  function wire(newLine) {
    newLine.on("registered", () => {
      report("ready");
      if (!newLine.call) show("ready", t("Ready"));
    });
    newLine.on("unregistered", () => show("off", prefs.takes_calls_on === "phone" ? t("Calls go to your phone {phone}", { phone: prefs.phone || "" }) : t("Not registered (available agents only)")));
    newLine.on("incoming", (call) => {
      muted = false;
      show("ringing", t("Ringing — {caller}", { caller: caller || call.from || t("caller") }));
      if (prefs.auto_answer) newLine.accept();
    });
    newLine.on("accepted", () => {
      talkingSince = Date.now();
      show("connected", "");
      state.textContent = connectedText();
    });
    newLine.on("muted", (on) => {
      muted = on;
      show("connected", "");
      state.textContent = connectedText();
    });
    newLine.on("disconnected", (reason) => {
      muted = false;
      talkingSince = null;
      show("ended", t("Ended ({reason})", { reason }));
      setTimeout(() => { if (phase === "ended") show(line && line.timer !== null ? "ready" : phase, t("Ready")); }, 3000);
    });
    newLine.on("unreachable", (why) => {
      if (phase === "registering" || phase === "unreachable") {
        show("unreachable", t("Not registered: Twilio cannot be reached ({why})", { why: why || t("still trying") }));
        report("unreachable", why);
      }
    });
    newLine.on("error", (message) => { $("sp-error").textContent = message; });
    return newLine;
  }

  async function ensureLine() {
    if (line) return line;
    const issued = await fetchToken();
    $("sp-mode").textContent = issued.mode === "twilio" ? "Twilio" : t("simulator");
    if (issued.mode === "twilio") {
      if (!window.Twilio || !window.Twilio.Device) throw new Error("the Voice SDK is not installed (npm install)");
      line = wire(new TwilioLine(fetchToken, issued.token));
    } else {
      line = wire(new SimulatorLine(fetchToken));
      line.token = issued.token;
    }
    return line;
  }

  const REACHABLE = ["available", "ringing", "on-call", "wrap-up"];
  async function update() {
    $("sp-error").textContent = "";
    const wanted = prefs.takes_calls_on === "browser" && REACHABLE.includes(presence);
    try {
      if (wanted) {
        const current = await ensureLine();
        if (phase === "off") {
          show("registering", t("Registering…"));
          await current.register();
        }
      } else if (line && phase !== "connected" && phase !== "ringing") {
        line.unregister();
      } else if (!line) {
        show("off", prefs.takes_calls_on === "phone" ? t("Calls go to your phone {phone}", { phone: prefs.phone || "" }) : t("Not registered (available agents only)"));
      }
    } catch (error) {
      $("sp-error").textContent = error.message;
    }
  }

  async function savePrefs(change) {
    const response = await fetch("/api/voice/preferences", {
      method: "PATCH", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(change),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      $("sp-error").textContent = data.errors ? Object.values(data.errors).join("; ") : (data.error || response.status);
      $("sp-takes").value = prefs.takes_calls_on;
      $("sp-auto").checked = prefs.auto_answer;
      return;
    }
    prefs = data;
    showNote();
    update();
  }

  async function listDevices() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
    const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
    for (const [kind, id] of [["audioinput", "sp-mic"], ["audiooutput", "sp-speaker"]]) {
      const found = devices.filter((d) => d.kind === kind && d.deviceId);
      const select = $(id);
      select.replaceChildren(...found.map((d, i) => {
        const option = el("option", d.label || `${kind === "audioinput" ? t("Microphone") : t("Speaker")} ${i + 1}`);
        option.value = d.deviceId;
        return option;
      }));
      select.closest("label").hidden = found.length === 0;
    }
  }

  $("sp-answer").addEventListener("click", () => line && line.accept());
  $("sp-decline").addEventListener("click", () => line && line.reject());
  $("sp-hangup").addEventListener("click", () => line && line.disconnect());
  $("sp-mute").addEventListener("click", () => line && line.mute(!muted));
  $("sp-keypad-toggle").addEventListener("click", () => { $("sp-keypad").hidden = !$("sp-keypad").hidden; });
  $("sp-keypad").addEventListener("click", (event) => {
    const key = event.target.dataset && event.target.dataset.key;
    if (!key || !line) return;
    $("sp-digits").textContent += key;
    line.sendDigits(key);
  });
  $("sp-takes").addEventListener("change", () => savePrefs({ takes_calls_on: $("sp-takes").value }));
  $("sp-auto").addEventListener("change", () => savePrefs({ auto_answer: $("sp-auto").checked }));
  for (const id of ["sp-mic", "sp-speaker"]) {
    $(id).addEventListener("change", () => line && line.setDevices($("sp-mic").value, $("sp-speaker").value));
  }

  // agent.js tells the softphone the agent's presence and who the current caller is.
  window.softphone = {
    presence(status) { presence = status; update(); },
    caller(name) { caller = name || ""; },
    // agent.js: the console's socket; on every (re)connect the server hears the line's state.
    attach(agentSocket) {
      socket = agentSocket;
      socket.on("connect", () => { told = null; tell(); });
    },
    // agent.js: whether the server offers this agent calls (agent:state).
    offered(yes) { notOffered = !yes; showNote(); },
  };
  show("off", t("Starting…"));
  api("/api/voice/preferences").then((data) => {
    prefs = data;
    $("sp-takes").value = prefs.takes_calls_on;
    $("sp-auto").checked = prefs.auto_answer;
    update();
  }).catch((error) => { $("sp-error").textContent = error.message; });
  listDevices();
})();
