"use strict";
// Calling out from the agent console: the dial pad, and the Call buttons elsewhere on the page
// (voicemail, follow-ups), which dispatch a `console:dial` event on the document with detail
// {target, errorBox, placed}: `placed(answer)` runs once the call is placed. The call itself
// then comes to the console as an outbound offer. agent.js starts it with its socket.
function dialPad(socket) {
  const $ = (id) => document.getElementById(id);

  function dial(target, errorBox, placed) {
    errorBox.textContent = "";
    socket.emit("call:dial", target, (answer) => {
      if (!answer || !answer.ok) errorBox.textContent = (answer && answer.error) || t("Could not place the call");
      else if (placed) placed(answer);
    });
  }
  $("dialpad").addEventListener("submit", (event) => {
    event.preventDefault();
    dial({ number: $("dial-number").value.trim() }, $("dial-error"));
  });
  document.querySelectorAll("#dialpad-keys [data-key]").forEach((button) => {
    button.addEventListener("click", () => {
      const input = $("dial-number");
      input.value = button.dataset.key === "⌫" ? input.value.slice(0, -1) : input.value + button.dataset.key;
    });
  });
  document.addEventListener("console:dial", (event) =>
    dial(event.detail.target, event.detail.errorBox || $("dial-error"), event.detail.placed));
}
