// Forge home: start a build (prompt + config, or a template), then open its live page.
"use strict";
(function () {
  const form = document.getElementById("new-build");
  const errorBox = document.getElementById("build-error");
  function fail(err) { errorBox.textContent = err.message; errorBox.hidden = false; }
  function open(started) { window.location.href = `/forge/builds/${started.session_id}/`; }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    const body = {prompt: document.getElementById("prompt").value,
                  config: {stack: document.getElementById("stack").value, styling: document.getElementById("styling").value}};
    try { open(await Nexus.api("/api/v1/forge/builds", {method: "POST", body: JSON.stringify(body)})); } catch (err) { fail(err); }
  });
  document.querySelectorAll("[data-template]").forEach((button) => button.addEventListener("click", async () => {
    errorBox.hidden = true;
    const body = {template_id: button.dataset.template, customizations: {}};
    try { open(await Nexus.api("/api/v1/forge/builds/from-template", {method: "POST", body: JSON.stringify(body)})); } catch (err) { fail(err); }
  }));
})();
