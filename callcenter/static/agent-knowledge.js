"use strict";
// The agent console's knowledge panel: search the knowledge base, read an article, text its
// link to the caller; and the suggested articles of a screen-pop or the current call, which
// open in the panel. agent.js starts it with a function that returns the current call (or
// null). A lookup made during a call is linked to it. Data rendered as text, except the
// article body, which the server renders safe (raw HTML escaped).
function knowledgePanel(currentCall) {
  const $ = (id) => document.getElementById(id);
  let article = null; // the article open in the panel

  // GET with the call's sid when there is one, so the lookup is linked to the call; a call
  // this agent may not see (yet: still ringing) is left out rather than failing the lookup.
  async function kbGet(path, params, callSid) {
    if (callSid) {
      try {
        return await api(`${path}?${new URLSearchParams({ ...params, call_sid: callSid })}`);
      } catch (error) {
        if (error.status !== 403) throw error;
      }
    }
    return api(`${path}?${new URLSearchParams(params)}`);
  }

  $("kb-search").addEventListener("submit", async (event) => {
    event.preventDefault();
    const query = $("kb-q").value.trim();
    if (!query) return;
    $("kb-error").textContent = "";
    const params = { q: query, limit: "10" };
    if ($("kb-lang").value) params.lang = $("kb-lang").value;
    try {
      const current = currentCall();
      const data = await kbGet("/api/kb/search", params, current && current.call_sid);
      const results = data.results || [];
      $("kb-summary-line").textContent = results.length
        ? (results.length === 1 ? t("{count} article for “{query}”", { count: 1, query: data.query })
          : t("{count} articles for “{query}”", { count: results.length, query: data.query }))
        : t("No articles match “{query}”", { query: data.query });
      $("kb-results").replaceChildren(...results.map((hit) => {
        const li = el("li");
        li.dataset.articleId = hit.id;
        const title = el("button", hit.title, "link");
        title.type = "button";
        title.addEventListener("click", () => {
          const current = currentCall();
          openArticle(hit.id, current && current.call_sid, false);
        });
        const snippet = el("p", null, "snippet");
        snippet.append(markedText(hit.snippet));
        li.append(title, " ", el("span", hit.language, "pill"), snippet);
        return li;
      }));
    } catch (error) {
      $("kb-error").textContent = error.message;
    }
  });

  async function openArticle(id, callSid, suggested) {
    $("kb-error").textContent = "";
    try {
      const data = await kbGet(`/api/kb/articles/${encodeURIComponent(id)}`,
        suggested ? { via: "suggestion" } : {}, callSid);
      article = data;
      $("kb-title").textContent = data.title;
      $("kb-language").textContent = data.language || "";
      $("kb-tags").textContent = (data.tags || []).join(", ");
      $("kb-summary").textContent = data.summary || "";
      $("kb-body").innerHTML = data.html; // safe HTML rendered by the server
      const link = $("kb-link");
      link.textContent = data.link || "";
      if (/^https?:\/\//i.test(data.link || "")) link.href = data.link;
      else link.removeAttribute("href");
      $("kb-send-status").textContent = "";
      $("kb-article").hidden = false;
      $("kb-article").dataset.articleId = data.id;
      updateSend();
      $("kb-article").scrollIntoView({ block: "nearest" });
    } catch (error) {
      $("kb-error").textContent = error.message;
    }
  }

  // Sending the article's link is for the caller of a call: enabled only during one.
  function updateSend() {
    const current = currentCall();
    const button = $("kb-send");
    button.disabled = !(article && current);
    button.title = current ? t("Text the article's link to the caller") : t("Only during a call");
  }

  $("kb-send").addEventListener("click", async () => {
    const current = currentCall();
    if (!article || !current) return;
    const status = $("kb-send-status");
    status.className = "";
    status.textContent = t("Sending…");
    try {
      const answer = await api(`/api/kb/articles/${encodeURIComponent(article.id)}/send`, { call_sid: current.call_sid });
      status.textContent = answer.repeated ? t("Already sent to {to}", { to: answer.to }) : t("Sent to {to}", { to: answer.to });
    } catch (error) {
      status.className = "error";
      status.textContent = error.message;
    }
  });
  $("kb-close").addEventListener("click", () => {
    article = null;
    $("kb-article").hidden = true;
    $("kb-body").replaceChildren();
    updateSend();
  });

  // Suggested articles (a screen-pop's, the current call's): each opens in the panel, the
  // lookup linked to that call and marked as coming from a suggestion.
  function renderSuggestions(list, items, callSid) {
    list.replaceChildren(...(items && items.length ? items.map((item) => {
      const li = el("li");
      const button = el("button", item.title, "link");
      button.type = "button";
      button.dataset.articleId = item.id;
      button.addEventListener("click", () => openArticle(item.id, callSid, true));
      li.append(button);
      if (item.summary) li.append(el("div", item.summary, "muted small"));
      return li;
    }) : [el("li", t("No suggestions"), "muted")]));
  }

  return { renderSuggestions, updateSend };
}
