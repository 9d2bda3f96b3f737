"use strict";
// Wallboard: live queues and agents from the /supervisor namespace.
(() => {
  const agents = new Map();
  const socket = io("/supervisor", { transports: ["websocket", "polling"] });
  endOnSignOut(socket);
  const body = document.getElementById("agents");
  function render() {
    body.replaceChildren(...[...agents.values()].map((a) => {
      const tr = el("tr");
      tr.dataset.agent = a.username;
      tr.dataset.agentId = a.id;
      const status = el("td", a.status + (a.reason ? ` (${a.reason})` : ""));
      status.dataset.status = a.status;
      tr.append(el("td", a.name), el("td", a.number, "mono"), el("td", a.skills.join(", ")), status,
        el("td", a.since ? a.since.slice(11, 19) : ""));
      return tr;
    }));
  }
  socket.on("connect", () => { document.getElementById("connection").textContent = "Live"; });
  socket.on("connect_error", (error) => {
    document.getElementById("connection").textContent = connectProblem(error);
  });
  socket.on("snapshot", (data) => {
    agents.clear();
    data.agents.forEach((a) => agents.set(a.id, a));
    render();
    renderQueues(data.queues);
  });
  socket.on("agent", (a) => { agents.set(a.id, a); render(); });
  socket.on("queues", renderQueues);
})();
