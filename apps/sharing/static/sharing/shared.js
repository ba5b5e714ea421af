// The shared page: renders shared Markdown with the chat's safe renderer (everything escaped first).
"use strict";
(function () {
  const source = document.getElementById("shared-content");
  const target = document.getElementById("shared-markdown");
  if (!source || !target || !window.NexusMarkdown) return;
  target.innerHTML = NexusMarkdown.render(JSON.parse(source.textContent));
  target.hidden = false;
  document.getElementById("shared-text").hidden = true;
})();
