"use strict";
// The wallboard's live channel: /supervisor's `wallboard` event (the full board on connect,
// then updates, and an empty one every few seconds when nothing changed). The indicator says
// "Live", "Reconnecting…" while the socket is down, and "Stale since hh:mm:ss" when nothing
// has arrived for STALE_SECONDS (the server's keepalive is 5 s).
(() => {
  const STALE_SECONDS = 12;
  const indicator = document.getElementById("connection");
  const socket = io("/supervisor", { transports: ["websocket", "polling"] });
  Wallboard.attach(socket);
  endOnSignOut(socket);
  let heardAt = null;
  let connected = false;
  let problem = null;

  function show() {
    if (indicator.className === "error" && indicator.textContent === t("You were signed out")) return;
    const staleSince = heardAt ? clockTime(new Date(heardAt).toISOString()) : null;
    let state;
    let text;
    if (!connected) {
      state = heardAt ? "reconnecting" : "connecting";
      text = problem || (heardAt ? t("Reconnecting…") : t("Connecting…"));
      if (heardAt) text += ` · ${t("stale since {time}", { time: staleSince })}`;
    } else if (!heardAt || Date.now() - heardAt > STALE_SECONDS * 1000) {
      state = "stale";
      text = heardAt ? t("Stale since {time}", { time: staleSince }) : t("Waiting for the board…");
    } else {
      state = "live";
      text = t("Live");
    }
    indicator.dataset.state = state;
    indicator.textContent = text;
  }

  socket.on("connect", () => { connected = true; problem = null; show(); });
  socket.on("disconnect", () => { connected = false; show(); });
  socket.on("connect_error", (error) => { connected = false; problem = connectProblem(error); show(); });
  socket.on("wallboard", (data) => {
    heardAt = Date.now();
    Wallboard.apply(data);
    show();
  });
  setInterval(show, 1000);
})();
