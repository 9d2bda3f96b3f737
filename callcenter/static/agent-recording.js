"use strict";
// The current call's recording on the agent console: the indicator (● REC, paused, saved, ...)
// and the Pause / Resume buttons. It follows `call:recording` events, and asks the call record
// when a call is shown before any event came (a console reloaded mid-call). agent.js starts
// it with the socket and a function that returns the current call (or null), and calls
// follow(callSid) when a call is shown and show() when its state changes.
function callRecording(socket, currentCall) {
  const $ = (id) => document.getElementById(id);
  const recordings = new Map(); // call_sid -> the last `call:recording` state
  let recording; // the current call's recording: undefined (not known yet), null (none), state

  const RECORDING_LABELS = {
    requested: t("○ Starting recording"), "in-progress": t("● REC"), paused: t("❚❚ Paused"),
    completed: t("Recording saved"), absent: t("Nothing recorded"), failed: t("Recording failed"),
  };

  function showRecording() {
    const current = currentCall();
    const indicator = $("rec-indicator");
    const state = current ? current.state : "";
    const over = state === "wrap-up" || state === "ended" || (state || "").startsWith("transferred");
    // After the call the recording is no longer running, whatever its last event said.
    const status = recording && !(over && (recording.status === "in-progress" || recording.status === "paused"))
      ? recording.status : "";
    indicator.dataset.recording = status;
    indicator.textContent = RECORDING_LABELS[status] || status;
    indicator.hidden = !status;
    // Only while talking; not known yet (a console reloaded mid-call): let the agent try.
    const talking = (state === "connected" || state === "on hold") && !(current && current.consulted);
    $("rec-pause").disabled = !talking || (recording !== undefined && status !== "in-progress");
    $("rec-resume").disabled = !talking || (recording !== undefined && status !== "paused");
  }

  async function learnRecording(callSid) {
    // The call record says whether the call is being recorded (the events may have gone by).
    try {
      const record = await api(`/api/calls/${encodeURIComponent(callSid)}`);
      const current = currentCall();
      if (!current || current.call_sid !== callSid || recording !== undefined) return;
      const items = record.recordings || [];
      recording = items.length ? items[items.length - 1] : null;
      showRecording();
    } catch (error) {
      // Not visible yet (still connecting): the `call:recording` event will tell.
    }
  }

  // A call shown as the current call: its recording as last heard, else asked for.
  function follow(callSid) {
    recording = recordings.has(callSid) ? recordings.get(callSid) : undefined;
    showRecording();
    if (recording === undefined) learnRecording(callSid);
  }

  socket.on("call:recording", (data) => {
    if (!data || !data.call_sid) return;
    recordings.set(data.call_sid, data);
    const current = currentCall();
    if (current && current.call_sid === data.call_sid) {
      recording = data;
      showRecording();
    }
  });

  function record(action) {
    const current = currentCall();
    if (!current) return;
    const callSid = current.call_sid;
    $("call-error").textContent = "";
    socket.emit("call:record", { call_sid: callSid, action }, (answer) => {
      if (answer && answer.ok) {
        const state = { call_sid: callSid, ...answer };
        recordings.set(callSid, state);
        const now = currentCall();
        if (now && now.call_sid === callSid) {
          recording = state;
          showRecording();
        }
      } else {
        $("call-error").textContent = (answer && answer.error) || t("The recording could not be changed");
      }
    });
  }
  $("rec-pause").addEventListener("click", () => record("pause"));
  $("rec-resume").addEventListener("click", () => record("resume"));

  return { follow, show: showRecording };
}
