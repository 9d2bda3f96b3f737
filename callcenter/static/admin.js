"use strict";
// The agents page (admins): the team's accounts; add, edit, deactivate, reactivate, reset a
// password, log out everywhere; and the erased recordings Twilio still holds, sent again on
// request. Everything the server sends is rendered as text.
(() => {
  const $ = (id) => document.getElementById(id);
  const me = $("admin-page").dataset.me;
  const form = $("ad-form");
  let editing = null; // the username being edited; null: a new agent
  const ROLES = { agent: t("agent"), supervisor: t("supervisor"), admin: t("admin") };
  const TAKES_CALLS_ON = { browser: t("browser"), phone: t("phone") };

  // POST/PATCH a JSON body; resolves to {status, data} (field errors come back with 400).
  async function send(method, url, body) {
    let response;
    try {
      response = await fetch(url, {
        method, credentials: "same-origin",
        headers: { Accept: "application/json", "Content-Type": "application/json" },
        body: JSON.stringify(body || {}),
      });
    } catch (error) {
      return { status: 0, data: { error: t("The server cannot be reached") } };
    }
    let data = null;
    try { data = await response.json(); } catch (error) { data = null; }
    if (response.status === 401) location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
    return { status: response.status, data: data || { error: `${response.status} ${response.statusText}` } };
  }

  function done(text) {
    $("ad-done").textContent = text;
    $("ad-error").textContent = "";
  }
  function failed(text) {
    $("ad-error").textContent = text;
    $("ad-done").textContent = "";
  }

  function actionButton(label, onClick, name) {
    const button = el("button", label);
    button.type = "button";
    button.dataset.action = name;
    button.addEventListener("click", onClick);
    return button;
  }

  async function act(agent, verb, question, message) {
    if (question && !window.confirm(question)) return;
    const { status, data } = await send("POST", `/api/admin/agents/${encodeURIComponent(agent.username)}/${verb}`, {});
    if (status !== 200) { failed(data.error || Object.values(data.errors || {}).join("; ")); return; }
    done(message);
    await load();
  }

  function row(agent) {
    const tr = el("tr");
    tr.dataset.username = agent.username;
    tr.dataset.active = agent.active ? "yes" : "no";
    const actions = el("td", null, "actions");
    actions.append(actionButton(t("Edit"), () => openForm(agent), "edit"));
    if (agent.active) {
      actions.append(
        actionButton(t("Reset password"), () => openPassword(agent), "password"),
        actionButton(t("Log out"), () => act(agent, "logout",
          t("Log {who} out of every session?", { who: agent.username }),
          t("{who} is logged out everywhere", { who: agent.username })), "logout"));
      if (agent.username !== me) {
        actions.append(actionButton(t("Deactivate"), () => act(agent, "deactivate",
          t("Deactivate {who}? They cannot log in or take calls until reactivated.", { who: agent.username }),
          t("{who} is deactivated: every session of theirs has ended", { who: agent.username })), "deactivate"));
      }
    } else {
      actions.append(actionButton(t("Reactivate"), () => act(agent, "reactivate", null,
        t("{who} is active again", { who: agent.username })), "reactivate"));
    }
    tr.append(
      el("td", agent.name), el("td", agent.username, "mono"), el("td", agent.number, "mono"),
      el("td", ROLES[agent.role] || agent.role), el("td", agent.skills.join(", ") || "—"),
      el("td", agent.languages.join(", ") || "—"), el("td", agent.phone || "—", "mono"),
      el("td", `${TAKES_CALLS_ON[agent.takes_calls_on] || agent.takes_calls_on}${agent.auto_answer ? t(" (answers by itself)") : ""}`),
      el("td", agent.active ? t("yes") : t("no")));
    const status = el("td", agent.active ? agentStatusText(agent.status) : t("inactive"));
    status.dataset.status = agent.active ? agent.status : "inactive";
    tr.append(status, actions);
    return tr;
  }

  async function load() {
    try {
      const data = await api("/api/admin/agents");
      $("ad-rows").replaceChildren(...data.agents.map(row));
    } catch (error) {
      failed(error.message);
    }
  }

  // -- the add/edit form: every [data-field] element is one field of the API ---------------

  const fields = () => [...form.querySelectorAll("[data-field]")];

  function setField(node, value) {
    if (node.dataset.list === "yes") {
      const wanted = new Set(value || []);
      node.querySelectorAll("input[type=checkbox]").forEach((box) => { box.checked = wanted.has(box.value); });
    } else if (node.type === "checkbox") {
      node.checked = Boolean(value);
    } else {
      node.value = value === null || value === undefined ? "" : String(value);
    }
  }
  function fieldValue(node) {
    if (node.dataset.list === "yes") {
      return [...node.querySelectorAll("input[type=checkbox]:checked")].map((box) => box.value);
    }
    if (node.type === "checkbox") return node.checked;
    return node.value;
  }

  function openForm(agent) {
    editing = agent ? agent.username : null;
    $("ad-edit-title").textContent = agent ? t("Edit {who}", { who: agent.username }) : t("Add an agent");
    form.querySelectorAll(".ad-new-only").forEach((node) => { node.hidden = Boolean(agent); });
    $("ad-username").value = "";
    $("ad-password").value = "";
    const fresh = { role: "agent", takes_calls_on: "browser", auto_answer: false };
    fields().forEach((node) => setField(node, (agent || fresh)[node.dataset.field]));
    $("ad-field-errors").replaceChildren();
    $("ad-pw").hidden = true;
    $("ad-edit").hidden = false;
    (agent ? $("ad-name") : $("ad-username")).focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    fields().forEach((node) => { body[node.dataset.field] = fieldValue(node); });
    let answer;
    if (editing) {
      answer = await send("PATCH", `/api/admin/agents/${encodeURIComponent(editing)}`, body);
    } else {
      body.username = $("ad-username").value;
      body.password = $("ad-password").value;
      answer = await send("POST", "/api/admin/agents", body);
    }
    const { status, data } = answer;
    if (status !== 200 && status !== 201) {
      const errors = data.errors || { "": data.error };
      $("ad-field-errors").replaceChildren(...Object.entries(errors).map(
        ([field, why]) => el("li", field ? `${field}: ${why}` : why)));
      return;
    }
    $("ad-edit").hidden = true;
    const changed = Object.keys(data.changes || {});
    done(editing
      ? (changed.length ? t("{who}: changed {fields}", { who: data.agent.username, fields: changed.join(", ") })
        : t("{who}: nothing changed", { who: data.agent.username }))
      : t("{who} added: they can log in now", { who: data.agent.username }));
    await load();
  });
  $("ad-cancel").addEventListener("click", () => { $("ad-edit").hidden = true; });
  $("ad-new").addEventListener("click", () => openForm(null));

  // -- password reset -----------------------------------------------------------------------

  let resetting = null;
  function openPassword(agent) {
    resetting = agent.username;
    $("ad-pw-who").textContent = agent.username;
    $("ad-pw-new").value = "";
    $("ad-pw-error").textContent = "";
    $("ad-edit").hidden = true;
    $("ad-pw").hidden = false;
    $("ad-pw-new").focus();
  }
  $("ad-pw-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const { status, data } = await send("POST",
      `/api/admin/agents/${encodeURIComponent(resetting)}/password`, { password: $("ad-pw-new").value });
    if (status !== 200) {
      $("ad-pw-error").textContent = data.error || Object.entries(data.errors || {}).map(([f, why]) => `${f}: ${why}`).join("; ");
      return;
    }
    $("ad-pw").hidden = true;
    done(t("{who}: password changed; every session of theirs has ended", { who: resetting }));
    await load();
  });
  $("ad-pw-cancel").addEventListener("click", () => { $("ad-pw").hidden = true; });

  // -- erased recordings Twilio still holds (deletions that gave up, or keep failing) ------

  function erasureRow(item, state) {
    const tr = el("tr");
    tr.dataset.recording = item.recording_sid;
    tr.append(el("td", item.recording_sid, "mono"), el("td", item.call_sid, "mono"),
      el("td", dateTime(item.requested_at)), el("td", String(item.attempts)),
      el("td", item.last_error || "—", "small"), el("td", state, "small"));
    return tr;
  }

  async function loadErasures() {
    let data;
    try {
      data = await api("/api/admin/erasures");
    } catch (error) {
      $("er-error").textContent = error.message;
      return;
    }
    $("er-error").textContent = "";
    $("er-summary").textContent = t("{failed} given up · {failing} failing, still being tried · {pending} being tried",
      { failed: data.failed_count, failing: data.failing_count, pending: data.pending });
    $("er-rows").replaceChildren(
      ...data.failed.map((item) => erasureRow(item, t("given up"))),
      ...data.failing.map((item) => erasureRow(item,
        t("failing, next try {when}", { when: dateTime(item.next_attempt_at) }))));
    $("er-table").hidden = !(data.failed.length || data.failing.length);
    $("er-retry").hidden = !data.failed_count;
  }
  $("er-retry").addEventListener("click", async () => {
    const { status, data } = await send("POST", "/api/admin/erasures/retry", {});
    if (status !== 200) { $("er-error").textContent = data.error || `${status}`; return; }
    done(t("{count} deletion(s) will be tried again", { count: data.retried }));
    await loadErasures();
  });

  load();
  loadErasures();
})();
