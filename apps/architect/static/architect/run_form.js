// The run form: inputs generated from the tool's fields; running opens the live run page.
"use strict";
(() => {
  const form = document.getElementById("run-form");
  const toolId = form.dataset.toolId;
  const box = document.getElementById("inputs");
  let fields = [];

  function control(field) {
    const id = `input-${field.name}`;
    const wrap = document.createElement("div");
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = (field.label || field.name) + (field.required ? " *" : "");
    let input;
    if (field.type === "textarea" || field.type === "file") {
      input = document.createElement("textarea");
      input.rows = 4;
    } else if (field.type === "select") {
      input = document.createElement("select");
      for (const option of field.options) input.appendChild(new Option(option, option));
    } else {
      input = document.createElement("input");
      input.type = field.type === "number" ? "number" : "text";
    }
    input.id = id;
    input.name = field.name;
    const error = document.createElement("div");
    error.className = "field-error";
    wrap.append(label, input, error);
    if (field.type === "file") {
      const picker = document.createElement("input");
      picker.type = "file";
      picker.onchange = async () => { if (picker.files[0]) input.value = await picker.files[0].text(); };
      wrap.insertBefore(picker, error);
    }
    return wrap;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const errorBox = document.getElementById("run-error");
    errorBox.hidden = true;
    form.querySelectorAll(".field-error").forEach((d) => (d.textContent = ""));
    const inputs = {};
    for (const field of fields) inputs[field.name] = document.getElementById(`input-${field.name}`).value;
    const controller = new AbortController();
    const response = await fetch("/api/v1/architect/execute", {
      method: "POST", credentials: "same-origin", signal: controller.signal,
      headers: {"Content-Type": "application/json", "X-CSRFToken": Nexus.csrfToken()},
      body: JSON.stringify({tool_id: toolId, inputs}),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      errorBox.textContent = body && body.error ? body.error.message : response.statusText;
      errorBox.hidden = false;
      for (const [key, messages] of Object.entries((body && body.error && body.error.details) || {})) {
        const input = document.getElementById(`input-${key.replace(/^inputs\./, "")}`);
        if (input) input.parentElement.querySelector(".field-error").textContent = messages.join(" ");
      }
      return;
    }
    // The run goes on without this response: the run page follows the execution's own stream.
    const executionId = response.headers.get("X-Execution-Id");
    controller.abort();
    window.location = `/architect/executions/${executionId}/`;
  });

  (async () => {
    const tool = await Nexus.api(`/api/v1/architect/tools/${toolId}`);
    fields = tool.input_fields;
    fields.forEach((field) => box.appendChild(control(field)));
    form.dataset.ready = "1";
  })();
})();
