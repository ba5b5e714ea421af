// The chat page: conversations and folders, the model picker, streaming replies with stop,
// regenerate and copy, and re-attaching to a reply that was still streaming after a reload.
"use strict";
(function () {
  const app = document.getElementById("chat-app");
  if (!app) return;
  const $ = (id) => document.getElementById(id);
  const state = { conversationId: app.dataset.conversation || null, history: [], streaming: false, models: [], folders: [] };

  function showError(message) {
    const box = $("chat-error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function setStreaming(on) {
    state.streaming = on;
    $("stop").hidden = !on;
    $("send").disabled = on;
  }

  function messageElement(role, status) {
    const el = document.createElement("article");
    el.className = `message message-${role}`;
    el.dataset.status = status || "complete";
    el.innerHTML = `<div class="message-role">${role === "user" ? "You" : "Assistant"}</div>` +
      `<details class="reasoning" hidden><summary>Reasoning</summary><div class="reasoning-text"></div></details>` +
      `<div class="message-body"></div><div class="message-meta"></div>`;
    if (role === "assistant") {
      const tools = document.createElement("div");
      tools.className = "message-tools";
      tools.innerHTML = `<button type="button" class="btn btn-ghost btn-copy">Copy</button>` +
        `<button type="button" class="btn btn-ghost btn-regenerate">Regenerate</button>`;
      el.appendChild(tools);
    }
    $("messages").appendChild(el);
    return el;
  }

  function renderMessage(el, text, reasoning, meta) {
    el.dataset.raw = text;
    el.querySelector(".message-body").innerHTML = el.classList.contains("message-user")
      ? `<p>${NexusMarkdown.escape(text).replace(/\n/g, "<br>")}</p>` : NexusMarkdown.render(text);
    if (reasoning) {
      const details = el.querySelector(".reasoning");
      details.hidden = false;
      details.querySelector(".reasoning-text").textContent = reasoning;
    }
    if (meta !== undefined) el.querySelector(".message-meta").textContent = meta;
    $("messages").scrollTop = $("messages").scrollHeight;
  }

  function usageText(usage, status) {
    if (!usage) return status && status !== "complete" ? status : "";
    const cost = usage.cost != null ? ` · ${Number(usage.cost).toFixed(4)} credits` : "";
    return `${usage.total_tokens} tokens${cost}${status && status !== "complete" ? " · " + status : ""}`;
  }

  // Consumes a reply's event stream into one message element.
  async function consumeReply(response, el) {
    let text = "", reasoning = "";
    const calls = [];
    await NexusSSE.read(response, ({ data }) => {
      if (NexusChatTools.apply(calls, data)) NexusChatTools.render(el, calls);
      else if (data.type === "text-delta") text += data.content;
      else if (data.type === "reasoning-delta") reasoning += data.content;
      else if (data.type === "sources") el.querySelector(".message-meta").textContent = `${data.sources.length} sources`;
      else if (data.type === "error") { el.dataset.status = "failed"; showError(data.error.message); }
      else if (data.type === "finish") {
        el.dataset.status = data.status || "complete";
        if (data.message_id) el.dataset.messageId = data.message_id;
        $("usage-line").textContent = usageText(data.usage, data.status);
        renderMessage(el, text, reasoning, usageText(data.usage, data.status));
        return;
      }
      renderMessage(el, text, reasoning);
    });
    state.history.push({ role: "assistant", content: text });
    return text;
  }

  async function send(content, { regenerate = false } = {}) {
    showError("");
    if (!regenerate) {
      const userEl = messageElement("user");
      renderMessage(userEl, content, "");
      state.history.push({ role: "user", content });
    }
    const assistantEl = messageElement("assistant", "streaming");
    renderMessage(assistantEl, "", "", "…");
    setStreaming(true);
    try {
      const response = await fetch("/api/v1/chat", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": Nexus.csrfToken() },
        body: JSON.stringify({ messages: state.history, model_id: $("model-select").value, conversation_id: state.conversationId || undefined,
                               tools: NexusChatTools.selected().length ? NexusChatTools.selected() : undefined }),
      });
      if (!response.ok) {
        const body = await response.json().catch(() => null);
        assistantEl.remove();
        throw new Error(body && body.error ? body.error.message : response.statusText);
      }
      const isNew = !state.conversationId;
      state.conversationId = response.headers.get("X-Conversation-Id");
      if (isNew) history.replaceState(null, "", `?c=${state.conversationId}`);
      await consumeReply(response, assistantEl);
      loadConversations();
    } catch (error) {
      showError(error.message);
    } finally {
      setStreaming(false);
    }
  }

  // After a reload mid-reply: replay the reply's stream from its start and keep following it.
  async function reattach(el) {
    setStreaming(true);
    try {
      const response = await fetch(`/api/v1/conversations/${state.conversationId}/stream`, { credentials: "same-origin" });
      if (response.status === 200) await consumeReply(response, el);
    } finally {
      setStreaming(false);
    }
  }

  async function openConversation(id) {
    state.conversationId = id;
    state.history = [];
    $("messages").innerHTML = "";
    showError("");
    history.replaceState(null, "", id ? `?c=${id}` : location.pathname);
    $("move-folder").hidden = !id;
    if (!id) { $("conversation-title").textContent = "New chat"; return; }
    const conversation = await Nexus.api(`/api/v1/conversations/${id}`);
    $("conversation-title").textContent = conversation.title || "Untitled";
    $("move-folder").value = conversation.folder_id || "";
    if (conversation.model_used && [...$("model-select").options].some((o) => o.value === conversation.model_used)) {
      $("model-select").value = conversation.model_used;
    }
    const page = await Nexus.api(`/api/v1/conversations/${id}/messages?limit=200`);
    let streamingEl = null;
    for (const message of page.results) {
      const el = messageElement(message.role, message.status);
      el.dataset.messageId = message.id;
      if (message.status === "streaming") { streamingEl = el; continue; }
      renderMessage(el, message.content, message.reasoning, message.role === "assistant" ? usageText(message.token_usage, message.status) : "");
      NexusChatTools.render(el, message.tool_calls);
      state.history.push({ role: message.role, content: message.content });
    }
    highlightActive();
    if (streamingEl) await reattach(streamingEl);
  }

  function highlightActive() {
    for (const item of document.querySelectorAll("#conversation-list li")) {
      item.classList.toggle("active", item.dataset.id === state.conversationId);
    }
  }

  async function loadConversations() {
    const params = new URLSearchParams({ limit: "100" });
    if ($("conversation-search").value) params.set("search", $("conversation-search").value);
    if ($("folder-filter").value) params.set("folder_id", $("folder-filter").value);
    const page = await Nexus.api(`/api/v1/conversations?${params}`);
    const list = $("conversation-list");
    list.innerHTML = "";
    for (const c of page.results) {
      const li = document.createElement("li");
      li.dataset.id = c.id;
      li.innerHTML = `<span class="title"></span><span class="muted small"></span>`;
      li.querySelector(".title").textContent = c.title || "Untitled";
      li.querySelector(".small").textContent = `${c.message_count} messages`;
      li.addEventListener("click", () => openConversation(c.id));
      list.appendChild(li);
    }
    if (!page.results.length) list.innerHTML = `<li class="muted">No conversations yet.</li>`;
    highlightActive();
    if (state.conversationId) {
      const current = page.results.find((c) => c.id === state.conversationId);
      if (current && current.title) $("conversation-title").textContent = current.title;
    }
  }

  async function loadFolders() {
    const page = await Nexus.api("/api/v1/folders?limit=200");
    state.folders = page.results;
    for (const select of [$("folder-filter"), $("move-folder")]) {
      const keep = select.value;
      select.length = 1;
      for (const folder of page.results) select.add(new Option(folder.name, folder.id));
      select.value = keep;
    }
  }

  async function loadModels() {
    const page = await Nexus.api("/api/v1/models");
    const models = page.results || page.data || page;
    const select = $("model-select");
    for (const model of models) {
      const price = `${model.input_cost}/${model.output_cost} credits per 1M tokens`;
      select.add(new Option(`${model.name} — ${price}`, model.name));
    }
    $("no-models").hidden = models.length > 0;
    $("send").disabled = models.length === 0;
  }

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const content = $("prompt").value.trim();
    if (!content || state.streaming) return;
    $("prompt").value = "";
    send(content);
  });
  $("prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("composer").requestSubmit(); }
  });
  $("stop").addEventListener("click", () => {
    if (state.conversationId) Nexus.api(`/api/v1/conversations/${state.conversationId}/stop`, { method: "POST" }).catch(() => {});
  });
  $("new-chat").addEventListener("click", () => openConversation(null));
  $("conversation-search").addEventListener("input", () => { clearTimeout(state.searchTimer); state.searchTimer = setTimeout(loadConversations, 250); });
  $("folder-filter").addEventListener("change", loadConversations);
  $("new-folder").addEventListener("click", async () => {
    const name = prompt("Folder name");
    if (name) { await Nexus.api("/api/v1/folders", { method: "POST", body: JSON.stringify({ name }) }); loadFolders(); }
  });
  $("move-folder").addEventListener("change", async () => {
    await Nexus.api(`/api/v1/conversations/${state.conversationId}`, { method: "PATCH", body: JSON.stringify({ folder_id: $("move-folder").value || null }) });
    loadConversations();
  });
  $("messages").addEventListener("click", (event) => {
    const message = event.target.closest(".message");
    if (event.target.classList.contains("btn-copy")) Nexus.copy(message.dataset.raw || "", event.target);
    if (event.target.classList.contains("btn-copy-code")) Nexus.copy(event.target.closest(".code-block").querySelector("code").innerText, event.target);
    if (event.target.classList.contains("btn-regenerate") && !state.streaming) {
      // Drop the last reply and ask again with the same history.
      if (state.history.length && state.history[state.history.length - 1].role === "assistant") state.history.pop();
      const last = [...document.querySelectorAll(".message-assistant")].pop();
      if (last) last.remove();
      send(null, { regenerate: true });
    }
  });

  (async function init() {
    try {
      await Promise.all([loadModels(), loadFolders(), NexusChatTools.load().catch(() => {})]);
      await loadConversations();
      if (state.conversationId) await openConversation(state.conversationId);
    } catch (error) {
      showError(error.message);
    }
  })();
})();
