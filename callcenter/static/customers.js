"use strict";
// The customers page: search (name, any phone number, account code), open a customer's file
// (calls with playable recordings, tickets, voicemails, articles sent, history), create, edit,
// merge. `/customers/<id>` opens one; `?phone=` prefills a new customer's number (from the
// console's screen-pop). All data rendered as text.
(() => {
  const $ = (id) => document.getElementById(id);
  const page = $("customers-page");
  const supervisor = page.dataset.supervisor === "yes";
  const prefill = JSON.parse(page.dataset.prefill || "{}");
  let shown = null; // the customer in the detail card
  let editing = null; // the customer being edited; null: a new one
  const TIERS = { normal: t("normal"), vip: t("vip"), potential: t("potential") };
  const tier = (name) => TIERS[name] || name;
  // A field's name in the history and the form's errors (the API sends the field's code).
  const FIELDS = { name: t("name"), phones: t("phones"), tier: t("tier"), language: t("language"),
    account: t("account"), notes: t("notes"), account_manager_id: t("account manager"),
    created: t("created"), merged: t("merged"), erased: t("erased") };
  const fieldLabel = (field) => FIELDS[field] || field;

  // PATCH/POST with field errors: resolves to {status, data}.
  async function send(method, url, body) {
    const response = await fetch(url, {
      method, credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (error) { data = null; }
    return { status: response.status, data: data || {} };
  }

  async function find(q) {
    try {
      const data = await api(`/api/customers?q=${encodeURIComponent(q)}`);
      $("cu-error").textContent = "";
      const rows = data.customers.map((c) => {
        const tr = el("tr");
        tr.dataset.customerId = String(c.id);
        const link = el("a", c.name);
        link.href = `/customers/${c.id}`;
        link.addEventListener("click", (event) => { event.preventDefault(); open(c.id); });
        const name = el("td");
        name.append(link);
        tr.append(el("td", c.id), name, el("td", c.phones.join(", "), "mono"), el("td", tier(c.tier)),
          el("td", c.account || "—", "mono"));
        return tr;
      });
      $("cu-rows").replaceChildren(...(rows.length ? rows : [emptyRow(5, t("No customer found."))]));
    } catch (error) {
      $("cu-error").textContent = t("Search: {why}", { why: error.message });
    }
  }

  async function open(id) {
    try {
      const data = await api(`/api/customers/${id}`);
      history.replaceState(null, "", `/customers/${id}`);
      show(data);
    } catch (error) {
      $("cu-error").textContent = t("Customer #{id}: {why}", { id, why: error.message });
    }
  }

  function item(text, href) {
    const li = el("li");
    if (href) {
      const a = el("a", text);
      a.href = href;
      li.append(a);
    } else {
      li.textContent = text;
    }
    return li;
  }

  function player(url) {
    const audio = el("audio");
    audio.controls = true;
    audio.preload = "none";
    audio.src = url;
    return audio;
  }

  function show(file) {
    const c = file.customer;
    shown = c;
    $("cu-detail").hidden = false;
    $("cu-title").textContent = `${c.name} (#${c.id})`;
    $("cu-d-phones").textContent = c.phones.join(", ") || "—";
    $("cu-d-tier").textContent = tier(c.tier);
    $("cu-d-language").textContent = c.language || "—";
    $("cu-d-account").textContent = c.account || "—";
    $("cu-d-manager").textContent = c.account_manager ? `${c.account_manager.name} (${c.account_manager.number})` : "—";
    $("cu-d-notes").textContent = c.notes || "";
    $("cu-calls").replaceChildren(...(file.calls.length ? file.calls.map((call) => {
      const tr = el("tr");
      const when = el("td");
      if (call.visible) {
        const a = el("a", dateTime(call.started_at));
        a.href = `/calls/${call.call_sid}`;
        when.append(a);
      } else {
        when.textContent = dateTime(call.started_at);
      }
      const recording = el("td");
      call.recordings.filter((r) => r.url).forEach((r) => recording.append(player(r.url)));
      tr.append(when, el("td", call.queue || "—"), el("td", call.outcome ? outcomeText(call.outcome) : callStatusText(call.status)),
        el("td", call.disposition_label || "—"), el("td", call.agent || "—"),
        el("td", call.csat === null || call.csat === undefined ? "—"
          : `${call.csat}/5${call.resolved === false ? t(" · not solved") : call.resolved ? t(" · solved") : ""}`), recording);
      return tr;
    }) : [emptyRow(7, t("No calls."))]));
    $("cu-tickets").replaceChildren(...file.tickets.map((t) =>
      item(`#${t.id} ${t.category_label} · ${ticketStatusText(t.status)}`, `/tickets#${t.id}`)));
    $("cu-voicemails").replaceChildren(...file.voicemails.map((v) => {
      const li = item(`${dateTime(v.created_at)} · ${v.mailbox} · ${voicemailStatusText(v.status)}`);
      if (v.url) li.append(" ", player(v.url));
      return li;
    }));
    $("cu-articles").replaceChildren(...file.articles_sent.map((a) =>
      item(`${dateTime(a.at)} · ${a.title || a.article_id}`)));
    $("cu-history").replaceChildren(...file.history.map((h) => {
      const change = h.old === null && h.new === null ? "" : `: ${h.old ?? "—"} → ${h.new ?? "—"}`;
      return el("li", `${dateTime(h.at)} · ${h.actor} · ${fieldLabel(h.field)}${change}`);
    }));
    $("cu-detail-error").textContent = "";
  }

  function edit(customer) {
    editing = customer;
    $("cu-edit").hidden = false;
    $("cu-edit-title").textContent = customer ? t("Edit {name}", { name: customer.name }) : t("New customer");
    $("cu-name").value = customer ? customer.name : "";
    $("cu-phones").value = customer ? customer.phones.join("\n") : prefill.phone || "";
    $("cu-language").value = customer ? customer.language || "" : "";
    $("cu-account").value = customer ? customer.account || "" : "";
    $("cu-notes").value = customer ? customer.notes || "" : "";
    if (supervisor) {
      $("cu-tier").value = customer ? customer.tier : "normal";
      $("cu-manager").value = customer && customer.account_manager ? String(customer.account_manager.id) : "";
    }
    $("cu-field-errors").replaceChildren();
    $("cu-name").focus();
  }

  async function save(event) {
    event.preventDefault();
    const body = {
      name: $("cu-name").value,
      phones: $("cu-phones").value.split(/[\n,;]/).map((p) => p.trim()).filter(Boolean),
      language: $("cu-language").value || null,
      account: $("cu-account").value || null,
      notes: $("cu-notes").value,
    };
    if (supervisor) {
      body.tier = $("cu-tier").value;
      body.account_manager_id = $("cu-manager").value ? Number($("cu-manager").value) : null;
    }
    $("cu-save").disabled = true; // one click, one customer (the server also refuses twins)
    try {
      const answer = editing
        ? await send("PATCH", `/api/customers/${editing.id}`, body)
        : await send("POST", "/api/customers", body);
      if (answer.status >= 400) {
        const errors = answer.data.errors || { "": answer.data.error || t("error {status}", { status: answer.status }) };
        $("cu-field-errors").replaceChildren(...Object.entries(errors).map(([field, message]) =>
          el("li", field ? `${fieldLabel(field)}: ${message}` : message)));
        return;
      }
      $("cu-edit").hidden = true;
      await open(answer.data.customer.id);
    } finally {
      $("cu-save").disabled = false;
    }
  }

  async function merge() {
    const other = Number($("cu-merge-id").value);
    if (!shown || !Number.isInteger(other) || other <= 0) {
      $("cu-detail-error").textContent = t("Give the number (#) of the other customer.");
      return;
    }
    const answer = await send("POST", `/api/customers/${shown.id}/merge`, { other_id: other });
    if (answer.status >= 400) {
      const errors = answer.data.errors ? Object.values(answer.data.errors).join("; ") : answer.data.error;
      $("cu-detail-error").textContent = t("Merge: {why}", { why: errors });
      return;
    }
    $("cu-merge-id").value = "";
    await open(shown.id);
  }

  $("cu-search").addEventListener("submit", (event) => { event.preventDefault(); find($("cu-q").value); });
  $("cu-new-open").addEventListener("click", () => edit(null));
  $("cu-edit-open").addEventListener("click", () => edit(shown));
  // Click-to-call: placed now (POST /api/calls/dial); the agent console pops the record.
  $("cu-call").addEventListener("click", async () => {
    if (!shown) return;
    $("cu-detail-error").textContent = "";
    $("cu-call-status").textContent = t("Calling…");
    const { status, data } = await send("POST", "/api/calls/dial", { customer_id: shown.id });
    if (status === 200) {
      $("cu-call-status").textContent = t("Calling {name}: your phone rings first. The call is on your agent console.", { name: shown.name });
    } else {
      $("cu-call-status").textContent = "";
      $("cu-detail-error").textContent = data.error || t("Could not place the call ({status})", { status });
    }
  });
  $("cu-cancel").addEventListener("click", () => { $("cu-edit").hidden = true; });
  $("cu-form").addEventListener("submit", save);
  $("cu-merge").addEventListener("click", merge);

  if (page.dataset.customerId) {
    open(Number(page.dataset.customerId));
  } else if (prefill.phone) {
    $("cu-q").value = prefill.phone;
    find(prefill.phone);
    edit(null);
  } else {
    find("");
  }
})();
