// The chat page: conversations (rename, delete, drag onto a folder) and folders (create, rename, delete),
// the model picker, knowledge repositories per conversation with the sources under each reply, streaming
// replies with stop, regenerate and copy, and re-attaching to a reply that was still streaming after a reload.
"use strict";
(function () {
  const app = document.getElementById("chat-app");
  if (!app) return;
  const $ = (id) => document.getElementById(id);
  const state = { conversationId: app.dataset.conversation || null, history: [], streaming: false, models: [], folders: [],
                  folderFilter: "", conversations: [], pendingRepos: [] };
  const REPO_KEY = "nexus.chat.repositories.";

  function showError(message) {
    const box = $("chat-error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function setStreaming(on) {
    state.streaming = on;
    app.classList.toggle("is-streaming", on);
    $("stop").hidden = !on;
    $("send").disabled = on;
  }

  // ---- Dialogs: native <dialog> (modal: focus stays inside, Escape closes); focus goes back to the opener.
  function openDialog(dialog, focusEl) {
    const opener = document.activeElement;
    return new Promise((resolve) => {
      dialog.returnValue = "";
      dialog.addEventListener("close", () => {
        if (opener && opener.isConnected) opener.focus();
        resolve(dialog.returnValue);
      }, { once: true });
      dialog.showModal();
      if (focusEl) focusEl.focus();
    });
  }

  async function confirmDialog({ title, text, action }) {
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = action;
    return (await openDialog($("confirm-dialog"), $("confirm-cancel"))) === "ok";
  }

  // Asks for a folder name in the in-page form; resolves to the name, or null when cancelled.
  async function folderNameDialog({ title, action, value }) {
    $("folder-dialog-title").textContent = title;
    $("folder-save").textContent = action;
    $("folder-name").value = value || "";
    $("folder-error").hidden = true;
    const answer = await openDialog($("folder-dialog"), $("folder-name"));
    const name = $("folder-name").value.trim();
    return answer === "ok" && name ? name : null;
  }

  // ---- Knowledge repositories, remembered per conversation in this browser (a conversation has no field for them).
  function reposFor(id) {
    if (!id) return state.pendingRepos;
    try { return JSON.parse(localStorage.getItem(REPO_KEY + id) || "[]"); } catch (error) { return []; }
  }

  function rememberRepos(id, ids) {
    if (!id) { state.pendingRepos = ids; return; }
    if (ids.length) localStorage.setItem(REPO_KEY + id, JSON.stringify(ids)); else localStorage.removeItem(REPO_KEY + id);
  }

  function selectedRepos() {
    return [...document.querySelectorAll("#repo-picker input:checked")].map((input) => input.value);
  }

  function showRepoSelection() {
    const chosen = reposFor(state.conversationId);
    for (const input of document.querySelectorAll("#repo-picker input")) input.checked = chosen.includes(input.value);
    const n = selectedRepos().length;
    $("repo-picker").querySelector("summary").textContent = n ? `Knowledge (${n})` : "Knowledge";
  }

  async function loadRepositories() {
    const box = $("repo-picker").querySelector(".repo-options");
    let repositories = [];
    try {
      const page = await Nexus.api("/api/v1/knowledge?limit=200");
      repositories = page.results || [];
    } catch (error) {
      repositories = [];  // no knowledge tool: the picker says there is nothing to pick
    }
    for (const repository of repositories) {
      const label = document.createElement("label");
      label.className = "tool-option";
      const input = document.createElement("input");
      input.type = "checkbox";
      input.value = repository.id;
      input.addEventListener("change", () => { rememberRepos(state.conversationId, selectedRepos()); showRepoSelection(); });
      label.append(input, ` ${repository.name}`);
      const count = document.createElement("span");
      count.className = "muted small";
      count.textContent = ` · ${repository.document_count} document${repository.document_count === 1 ? "" : "s"}`;
      label.append(count);
      box.appendChild(label);
    }
    $("no-repositories").hidden = repositories.length > 0;
    showRepoSelection();
  }

  // ---- Messages.
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

  // The passages a reply was given, folded under it: document name (page, section) and a snippet.
  function renderSources(el, sources) {
    let box = el.querySelector(".sources");
    if (!sources || !sources.length) { if (box) box.remove(); return; }
    if (!box) {
      box = document.createElement("details");
      box.className = "sources";
      box.innerHTML = "<summary></summary><ol class='source-list'></ol>";
      el.querySelector(".message-meta").before(box);
    }
    box.querySelector("summary").textContent = `${sources.length} source${sources.length === 1 ? "" : "s"}`;
    const list = box.querySelector(".source-list");
    list.innerHTML = "";
    for (const source of sources) {
      const item = document.createElement("li");
      item.className = "source";
      const name = document.createElement("span");
      name.className = "source-name";
      name.textContent = source.filename || "Document";
      const where = [source.page ? `page ${source.page}` : "", source.heading || ""].filter(Boolean).join(", ");
      item.append(name);
      if (where) item.append(` (${where})`);
      if (source.marker) item.append(` [${source.marker}]`);
      if (source.snippet) {
        const snippet = document.createElement("blockquote");
        snippet.className = "source-snippet";
        snippet.textContent = source.snippet;
        item.append(snippet);
      }
      list.appendChild(item);
    }
  }

  function usageText(usage, status) {
    const flag = status && status !== "complete" ? status : "";
    if (!usage || usage.total_tokens == null) return flag;
    const cost = usage.cost != null ? ` · ${Number(usage.cost).toFixed(4)} credits` : "";
    return `${usage.total_tokens} tokens${cost}${flag ? " · " + flag : ""}`;
  }

  // A reply that ended early may finish without its usage in the event: the stored message has it.
  async function storedUsage(messageId) {
    const page = await Nexus.api(`/api/v1/conversations/${state.conversationId}/messages?limit=200`);
    const message = page.results.find((m) => m.id === messageId);
    return message ? message.token_usage : null;
  }

  // Consumes a reply's event stream into one message element.
  async function consumeReply(response, el) {
    let text = "", reasoning = "", finish = null;
    const calls = [];
    await NexusSSE.read(response, ({ data }) => {
      if (NexusChatTools.apply(calls, data)) NexusChatTools.render(el, calls);
      else if (data.type === "text-delta") text += data.content;
      else if (data.type === "reasoning-delta") reasoning += data.content;
      else if (data.type === "sources") renderSources(el, data.sources);
      else if (data.type === "error") { el.dataset.status = "failed"; showError(data.error.message); }
      else if (data.type === "finish") { finish = data; return; }
      renderMessage(el, text, reasoning);
    });
    if (finish) {
      if (finish.message_id) el.dataset.messageId = finish.message_id;
      let usage = finish.usage;
      if ((!usage || usage.cost == null) && finish.message_id && finish.status !== "complete") {
        usage = (await storedUsage(finish.message_id).catch(() => null)) || usage;
      }
      renderMessage(el, text, reasoning, usageText(usage, finish.status));
      $("usage-line").textContent = usageText(usage, finish.status);
      el.dataset.status = finish.status || "complete";
    } else if (el.dataset.status === "streaming") {
      el.dataset.status = "incomplete";
    }
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
    const repositoryIds = selectedRepos();
    try {
      const response = await fetch("/api/v1/chat", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": Nexus.csrfToken() },
        body: JSON.stringify({ messages: state.history, model_id: $("model-select").value, conversation_id: state.conversationId || undefined,
                               tools: NexusChatTools.selected().length ? NexusChatTools.selected() : undefined,
                               repository_ids: repositoryIds.length ? repositoryIds : undefined }),
      });
      if (!response.ok) {
        const body = await response.json().catch(() => null);
        assistantEl.remove();
        throw new Error(body && body.error ? body.error.message : response.statusText);
      }
      const isNew = !state.conversationId;
      state.conversationId = response.headers.get("X-Conversation-Id");
      if (isNew) {
        history.replaceState(null, "", `?c=${state.conversationId}`);
        rememberRepos(state.conversationId, repositoryIds);
        state.pendingRepos = [];
        $("move-folder").value = "";
        $("move-folder-label").hidden = false;
      }
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
    $("usage-line").textContent = "";
    showError("");
    history.replaceState(null, "", id ? `?c=${id}` : location.pathname);
    $("move-folder-label").hidden = !id;
    showRepoSelection();
    closeSidebar();
    if (!id) { $("conversation-title").textContent = "New chat"; highlightActive(); return; }
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
      if (message.role === "assistant") renderSources(el, message.sources);
      state.history.push({ role: message.role, content: message.content });
    }
    highlightActive();
    if (streamingEl) await reattach(streamingEl);
  }

  function highlightActive() {
    for (const item of document.querySelectorAll("#conversation-list li[data-id]")) {
      const active = item.dataset.id === state.conversationId;
      item.classList.toggle("active", active);
      const button = item.querySelector(".conv-open");
      if (active) button.setAttribute("aria-current", "true"); else button.removeAttribute("aria-current");
    }
  }

  // ---- Conversations in the sidebar.
  function conversationItem(c) {
    const li = document.createElement("li");
    li.dataset.id = c.id;
    li.dataset.folderId = c.folder_id || "";
    li.draggable = true;
    li.innerHTML = `<button type="button" class="conv-open"><span class="title"></span><span class="muted small"></span></button>` +
      `<span class="conv-actions"><button type="button" class="btn btn-ghost btn-icon conv-rename">✎</button>` +
      `<button type="button" class="btn btn-ghost btn-icon conv-delete">✕</button></span>`;
    const title = c.title || "Untitled";
    li.querySelector(".title").textContent = title;
    li.querySelector(".small").textContent = `${c.message_count} messages`;
    li.querySelector(".conv-rename").setAttribute("aria-label", `Rename ${title}`);
    li.querySelector(".conv-rename").title = "Rename";
    li.querySelector(".conv-delete").setAttribute("aria-label", `Delete ${title}`);
    li.querySelector(".conv-delete").title = "Delete";
    li.querySelector(".conv-open").addEventListener("click", () => openConversation(c.id).catch((error) => showError(error.message)));
    li.querySelector(".conv-rename").addEventListener("click", () => startRename(li, c));
    li.querySelector(".conv-delete").addEventListener("click", () => deleteConversation(c));
    li.addEventListener("dragstart", (event) => {
      event.dataTransfer.setData("application/x-nexus-conversation", c.id);
      event.dataTransfer.setData("text/plain", c.id);
      event.dataTransfer.effectAllowed = "move";
      li.classList.add("dragging");
    });
    li.addEventListener("dragend", () => li.classList.remove("dragging"));
    return li;
  }

  // Inline rename: Enter (or leaving the field) saves, Escape cancels.
  function startRename(li, c) {
    const open = li.querySelector(".conv-open");
    const input = document.createElement("input");
    input.type = "text";
    input.className = "conv-title-input";
    input.maxLength = 200;
    input.value = c.title || "";
    input.setAttribute("aria-label", "Conversation title");
    open.hidden = true;
    li.querySelector(".conv-actions").hidden = true;
    li.draggable = false;
    li.prepend(input);
    input.focus();
    input.select();
    let done = false;
    async function finish(save) {
      if (done) return;
      done = true;
      const title = input.value.trim();
      if (save && title && title !== c.title) {
        try {
          await Nexus.api(`/api/v1/conversations/${c.id}`, { method: "PATCH", body: JSON.stringify({ title }) });
          if (c.id === state.conversationId) $("conversation-title").textContent = title;
          await loadConversations();
          const renamed = document.querySelector(`#conversation-list li[data-id="${c.id}"] .conv-rename`);
          if (renamed) renamed.focus();
          return;
        } catch (error) {
          showError(error.message);
        }
      }
      input.remove();
      open.hidden = false;
      li.querySelector(".conv-actions").hidden = false;
      li.draggable = true;
      li.querySelector(".conv-rename").focus();
    }
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); finish(true); }
      if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); finish(false); }
    });
    input.addEventListener("blur", () => finish(true));
  }

  async function deleteConversation(c) {
    const ok = await confirmDialog({ title: "Delete conversation?", action: "Delete",
      text: `“${c.title || "Untitled"}” and all its messages will be deleted. This cannot be undone.` });
    if (!ok) return;
    try {
      await Nexus.api(`/api/v1/conversations/${c.id}`, { method: "DELETE" });
      localStorage.removeItem(REPO_KEY + c.id);
      if (c.id === state.conversationId) await openConversation(null);
      await loadConversations();
      $("conversation-search").focus();
    } catch (error) {
      showError(error.message);
    }
  }

  async function loadConversations() {
    const params = new URLSearchParams({ limit: "100" });
    const query = $("conversation-search").value.trim();
    if (query) params.set("search", query);
    if (state.folderFilter) params.set("folder_id", state.folderFilter);
    const page = await Nexus.api(`/api/v1/conversations?${params}`);
    state.conversations = page.results;
    const list = $("conversation-list");
    list.innerHTML = "";
    for (const c of page.results) list.appendChild(conversationItem(c));
    if (!page.results.length) {
      const empty = document.createElement("li");
      empty.className = "muted empty";
      const folder = state.folders.find((f) => f.id === state.folderFilter);
      if (query) empty.textContent = `No conversations match “${query}”${folder ? ` in ${folder.name}` : ""}.`;
      else if (folder) empty.textContent = `No conversations in ${folder.name}.`;
      else empty.textContent = "No conversations yet.";
      list.appendChild(empty);
    }
    highlightActive();
    if (state.conversationId) {
      const current = page.results.find((c) => c.id === state.conversationId);
      if (current && current.title) $("conversation-title").textContent = current.title;
    }
  }

  // ---- Folders: a filter, a drop target, rename and delete.
  async function moveConversation(id, folderId) {
    try {
      await Nexus.api(`/api/v1/conversations/${id}`, { method: "PATCH", body: JSON.stringify({ folder_id: folderId || null }) });
      if (id === state.conversationId) $("move-folder").value = folderId || "";
      await loadConversations();
    } catch (error) {
      showError(error.message);
    }
  }

  function folderItem(folder) {
    const li = document.createElement("li");
    li.className = "folder-item";
    li.dataset.folder = folder ? folder.id : "";
    const open = document.createElement("button");
    open.type = "button";
    open.className = "folder-open";
    open.textContent = folder ? folder.name : "All conversations";
    open.setAttribute("aria-pressed", String((folder ? folder.id : "") === state.folderFilter));
    open.addEventListener("click", () => { state.folderFilter = folder ? folder.id : ""; renderFolders(); loadConversations(); });
    li.appendChild(open);
    if (folder) {
      const actions = document.createElement("span");
      actions.className = "conv-actions";
      actions.innerHTML = `<button type="button" class="btn btn-ghost btn-icon folder-rename" title="Rename">✎</button>` +
        `<button type="button" class="btn btn-ghost btn-icon folder-delete" title="Delete">✕</button>`;
      actions.querySelector(".folder-rename").setAttribute("aria-label", `Rename folder ${folder.name}`);
      actions.querySelector(".folder-delete").setAttribute("aria-label", `Delete folder ${folder.name}`);
      actions.querySelector(".folder-rename").addEventListener("click", () => renameFolder(folder));
      actions.querySelector(".folder-delete").addEventListener("click", () => deleteFolder(folder));
      li.appendChild(actions);
    }
    // Dropping a conversation here moves it (onto "All conversations": out of its folder).
    li.addEventListener("dragover", (event) => {
      if (!event.dataTransfer.types.includes("application/x-nexus-conversation")) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      li.classList.add("drop-target");
    });
    li.addEventListener("dragleave", () => li.classList.remove("drop-target"));
    li.addEventListener("drop", (event) => {
      event.preventDefault();
      li.classList.remove("drop-target");
      const id = event.dataTransfer.getData("application/x-nexus-conversation");
      if (id) moveConversation(id, folder ? folder.id : null);
    });
    return li;
  }

  function renderFolders() {
    const list = $("folder-list");
    list.innerHTML = "";
    list.appendChild(folderItem(null));
    for (const folder of state.folders) list.appendChild(folderItem(folder));
    const select = $("move-folder");
    const keep = select.value;
    select.length = 1;
    for (const folder of state.folders) select.add(new Option(folder.name, folder.id));
    select.value = state.folders.some((f) => f.id === keep) ? keep : "";
  }

  async function loadFolders() {
    const page = await Nexus.api("/api/v1/folders?limit=200");
    state.folders = page.results;
    if (state.folderFilter && !state.folders.some((f) => f.id === state.folderFilter)) state.folderFilter = "";
    renderFolders();
  }

  async function createFolder() {
    const name = await folderNameDialog({ title: "New folder", action: "Create" });
    if (!name) return;
    try {
      await Nexus.api("/api/v1/folders", { method: "POST", body: JSON.stringify({ name }) });
      await loadFolders();
    } catch (error) {
      showError(error.message);
    }
  }

  async function renameFolder(folder) {
    const name = await folderNameDialog({ title: "Rename folder", action: "Rename", value: folder.name });
    if (!name || name === folder.name) return;
    try {
      await Nexus.api(`/api/v1/folders/${folder.id}`, { method: "PATCH", body: JSON.stringify({ name }) });
      await loadFolders();
    } catch (error) {
      showError(error.message);
    }
  }

  async function deleteFolder(folder) {
    // The API keeps a deleted folder's conversations (outside any folder); the dialog says how many.
    const inside = await Nexus.api(`/api/v1/conversations?${new URLSearchParams({ folder_id: folder.id, limit: "1" })}`).catch(() => null);
    const n = inside ? inside.count : null;
    const kept = n === 0 ? "It holds no conversations."
      : n === 1 ? "Its 1 conversation is kept: it goes back to “No folder”."
      : `Its ${n == null ? "" : n + " "}conversations are kept: they go back to “No folder”.`;
    const ok = await confirmDialog({ title: "Delete folder?", action: "Delete folder",
      text: `The folder “${folder.name}” will be deleted. ${kept}` });
    if (!ok) return;
    try {
      await Nexus.api(`/api/v1/folders/${folder.id}`, { method: "DELETE" });
      if (state.folderFilter === folder.id) state.folderFilter = "";
      await loadFolders();
      if (state.conversationId) $("move-folder").value = ((await Nexus.api(`/api/v1/conversations/${state.conversationId}`)).folder_id) || "";
      await loadConversations();
      $("new-folder").focus();
    } catch (error) {
      showError(error.message);
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

  // ---- The sidebar on narrow screens: folded behind its button.
  function closeSidebar() {
    if ($("sidebar-toggle").getAttribute("aria-expanded") !== "true") return;
    $("sidebar-toggle").setAttribute("aria-expanded", "false");
    $("chat-sidebar").classList.remove("open");
  }

  $("sidebar-toggle").addEventListener("click", () => {
    const open = $("sidebar-toggle").getAttribute("aria-expanded") !== "true";
    $("sidebar-toggle").setAttribute("aria-expanded", String(open));
    $("chat-sidebar").classList.toggle("open", open);
    if (open) $("new-chat").focus();
  });
  $("chat-sidebar").addEventListener("keydown", (event) => {
    if (event.key === "Escape" && $("sidebar-toggle").getAttribute("aria-expanded") === "true" && !event.defaultPrevented) {
      closeSidebar();
      $("sidebar-toggle").focus();
    }
  });

  // Escape folds an open picker (Knowledge, Tools) and leaves the focus on its summary.
  $("composer").addEventListener("keydown", (event) => {
    const picker = event.target.closest && event.target.closest(".tool-picker[open]");
    if (event.key !== "Escape" || !picker) return;
    picker.open = false;
    picker.querySelector("summary").focus();
  });
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const content = $("prompt").value.trim();
    if (!content || state.streaming) return;
    $("prompt").value = "";
    send(content);
  });
  $("prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); $("composer").requestSubmit(); }
  });
  $("stop").addEventListener("click", () => {
    if (state.conversationId) Nexus.api(`/api/v1/conversations/${state.conversationId}/stop`, { method: "POST" }).catch(() => {});
  });
  $("new-chat").addEventListener("click", () => { openConversation(null); $("prompt").focus(); });
  $("conversation-search").addEventListener("input", () => { clearTimeout(state.searchTimer); state.searchTimer = setTimeout(loadConversations, 250); });
  $("new-folder").addEventListener("click", createFolder);
  $("move-folder").addEventListener("change", () => moveConversation(state.conversationId, $("move-folder").value));
  // Cancel is a plain button, so that Enter in the name field submits with the form's real action.
  $("confirm-cancel").addEventListener("click", () => $("confirm-dialog").close("cancel"));
  $("folder-cancel").addEventListener("click", () => $("folder-dialog").close("cancel"));
  $("folder-form").addEventListener("submit", (event) => {
    // A blank name keeps the dialog open with a message.
    if (!$("folder-name").value.trim()) {
      event.preventDefault();
      $("folder-error").textContent = "Give the folder a name.";
      $("folder-error").hidden = false;
      $("folder-name").focus();
    }
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
      await Promise.all([loadModels(), loadFolders(), loadRepositories(), NexusChatTools.load().catch(() => {})]);
      await loadConversations();
      if (state.conversationId) await openConversation(state.conversationId);
    } catch (error) {
      showError(error.message);
    }
  })();
})();
