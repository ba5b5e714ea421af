// The chat page's "Share" action on a reply: publishes the reply at a new link (POST /api/v1/artifacts
// {message_id}) and shows the link to copy. Self-contained: it only reads `data-message-id` and
// `data-status` from the chat's message elements and adds its button to their tools.
"use strict";
(function () {
  const messages = document.getElementById("messages");
  if (!messages) return;

  function addButton(el) {
    const tools = el.querySelector(".message-tools");
    if (!tools || tools.querySelector(".btn-share")) return;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-ghost btn-share";
    button.textContent = "Share";
    tools.appendChild(button);
  }

  async function share(el, button) {
    const id = el.dataset.messageId;
    if (!id || el.dataset.status === "streaming") { button.textContent = "Not ready"; setTimeout(() => (button.textContent = "Share"), 1500); return; }
    button.disabled = true;
    try {
      const artifact = await Nexus.api("/api/v1/artifacts", { method: "POST", body: JSON.stringify({ message_id: id }) });
      let box = el.querySelector(".share-box");
      if (!box) { box = document.createElement("div"); box.className = "share-box"; el.appendChild(box); }
      box.innerHTML = `<span class="muted">Link:</span><input type="text" readonly aria-label="Shared link">` +
        `<button type="button" class="btn btn-ghost btn-copy-link">Copy link</button><a href="/shared/">manage</a>`;
      box.querySelector("input").value = artifact.url;
      box.querySelector(".btn-copy-link").addEventListener("click", (event) => Nexus.copy(artifact.url, event.target));
    } catch (error) {
      button.textContent = error.message || "Share failed";
    } finally {
      button.disabled = false;
    }
  }

  messages.addEventListener("click", (event) => {
    if (!event.target.classList.contains("btn-share")) return;
    share(event.target.closest(".message"), event.target);
  });
  new MutationObserver(() => messages.querySelectorAll(".message-assistant").forEach(addButton))
    .observe(messages, { childList: true });
  messages.querySelectorAll(".message-assistant").forEach(addButton);
})();
