// Tool builder: fields and prompts, `{{...}}` suggestions while typing, validation errors shown inline.
"use strict";
(() => {
  const form = document.getElementById("builder");
  const toolId = form.dataset.toolId;
  const fieldsBox = document.getElementById("fields");
  const promptsBox = document.getElementById("prompts");
  const suggestions = document.getElementById("suggestions");
  let models = [];

  const el = (html) => { const t = document.createElement("template"); t.innerHTML = html.trim(); return t.content.firstChild; };
  const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));

  let controlCount = 0;
  // Each label names the control that follows it (screen readers announce it; a click on it focuses the control).
  function linkLabels(row) {
    row.querySelectorAll("label").forEach((label) => {
      const control = label.nextElementSibling;
      if (label.querySelector("input") || !control || !["INPUT", "SELECT", "TEXTAREA"].includes(control.tagName)) return;
      control.id = control.id || `arch-control-${++controlCount}`;
      label.htmlFor = control.id;
    });
  }

  function addField(f = {}) {
    const i = fieldsBox.children.length;
    const row = el(`<div class="arch-row field-row">
      <button type="button" class="btn btn-ghost remove" title="Remove field">✕</button>
      <div class="grid">
        <div><label>Name</label><input class="f-name" value="${esc(f.name)}"><div class="field-error"></div></div>
        <div><label>Label</label><input class="f-label" value="${esc(f.label)}"></div>
        <div><label>Type</label><select class="f-type">${["text", "textarea", "number", "select", "file"].map((t) => `<option ${t === (f.type || "text") ? "selected" : ""}>${t}</option>`).join("")}</select></div>
        <div><label>Options (select)</label><input class="f-options" value="${esc((f.options || []).join(", "))}" placeholder="a, b, c"></div>
        <div><label><input type="checkbox" class="f-required" ${f.required === false ? "" : "checked"}> Required</label></div>
      </div></div>`);
    linkLabels(row);
    row.querySelector(".remove").onclick = () => { row.remove(); };
    fieldsBox.appendChild(row);
    return i;
  }

  function addPrompt(p = {}) {
    const n = promptsBox.children.length;
    const row = el(`<div class="arch-row prompt-row">
      <button type="button" class="btn btn-ghost remove" title="Remove prompt">✕</button>
      <div class="grid">
        <div><label>Name</label><input class="p-name" value="${esc(p.name || `step${n + 1}`)}"><div class="field-error"></div></div>
        <div><label>Position</label><input class="p-position" type="number" min="1" value="${esc(p.position || n + 1)}"><div class="field-error"></div></div>
        <div><label>Model</label><select class="p-model"></select><div class="field-error"></div></div>
      </div>
      <label>System prompt</label><textarea class="p-system" rows="2">${esc(p.system_prompt)}</textarea><div class="field-error"></div>
      <label>Content</label><textarea class="p-content" rows="4">${esc(p.content)}</textarea><div class="field-error"></div>
    </div>`);
    linkLabels(row);
    const select = row.querySelector(".p-model");
    for (const m of models) select.appendChild(new Option(m.name, m.name));
    if (p.model_name) select.value = p.model_name;
    row.querySelector(".remove").onclick = () => { row.remove(); };
    for (const area of row.querySelectorAll("textarea")) {
      area.addEventListener("input", () => suggest(area, row));
      area.addEventListener("keydown", (event) => onKey(event, area));
      area.addEventListener("blur", () => setTimeout(() => (suggestions.hidden = true), 150));
    }
    promptsBox.appendChild(row);
  }

  // Names a prompt may refer to: every field, and prompts at an earlier position (by name and by position).
  function namesFor(row) {
    const position = Number(row.querySelector(".p-position").value) || 1;
    const names = [...fieldsBox.querySelectorAll(".f-name")].map((i) => i.value.trim()).filter(Boolean);
    const counts = {};
    for (const r of promptsBox.children) { const p = Number(r.querySelector(".p-position").value); counts[p] = (counts[p] || 0) + 1; }
    for (const r of promptsBox.children) {
      const p = Number(r.querySelector(".p-position").value);
      if (r !== row && p < position) {
        names.push(r.querySelector(".p-name").value.trim());
        if (counts[p] === 1) names.push(`prompt_${p}`);
      }
    }
    return [...new Set(names)];
  }

  let target = null;
  function suggest(area, row) {
    const before = area.value.slice(0, area.selectionStart);
    const match = before.match(/\{\{\s*([A-Za-z0-9_]*)$/);
    if (!match) { suggestions.hidden = true; return; }
    const options = namesFor(row).filter((n) => n.startsWith(match[1]));
    if (!options.length) { suggestions.hidden = true; return; }
    target = {area, partial: match[1]};
    suggestions.innerHTML = "";
    options.forEach((name, i) => {
      const b = el(`<button type="button" role="option" class="${i === 0 ? "active" : ""}">${esc(name)}</button>`);
      b.onmousedown = (event) => { event.preventDefault(); insert(name); };
      suggestions.appendChild(b);
    });
    const box = area.getBoundingClientRect(), parent = form.getBoundingClientRect();
    suggestions.style.left = `${box.left - parent.left + 12}px`;
    suggestions.style.top = `${box.bottom - parent.top}px`;
    suggestions.hidden = false;
  }

  function insert(name) {
    const {area, partial} = target;
    const cut = area.selectionStart;
    const rest = area.value.slice(cut).replace(/^\s*\}\}/, "");
    area.value = area.value.slice(0, cut - partial.length) + name + "}}" + rest;
    const at = cut - partial.length + name.length + 2;
    area.setSelectionRange(at, at);
    suggestions.hidden = true;
    area.focus();
  }

  function onKey(event, area) {
    if (suggestions.hidden) return;
    const items = [...suggestions.children];
    const active = items.findIndex((b) => b.classList.contains("active"));
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      items[active]?.classList.remove("active");
      items[(active + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length].classList.add("active");
    } else if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      insert(items[Math.max(active, 0)].textContent);
    } else if (event.key === "Escape") suggestions.hidden = true;
  }

  function body() {
    return {
      name: document.getElementById("tool-name").value,
      description: document.getElementById("tool-description").value,
      status: document.getElementById("tool-status").value,
      input_fields: [...fieldsBox.children].map((r) => ({
        name: r.querySelector(".f-name").value.trim(), label: r.querySelector(".f-label").value.trim(),
        type: r.querySelector(".f-type").value, required: r.querySelector(".f-required").checked,
        options: r.querySelector(".f-options").value.split(",").map((s) => s.trim()).filter(Boolean),
      })),
      prompts: [...promptsBox.children].map((r) => ({
        name: r.querySelector(".p-name").value.trim(), position: Number(r.querySelector(".p-position").value),
        model_id: r.querySelector(".p-model").value, system_prompt: r.querySelector(".p-system").value,
        content: r.querySelector(".p-content").value,
      })),
    };
  }

  // Field keys of the API's details (`prompts[1].content`) mapped to the inputs of the form.
  function inputFor(key) {
    if (key === "name") return document.getElementById("tool-name");
    const m = key.match(/^(input_fields|prompts)\[(\d+)\]\.(\w+)$/);
    if (!m) return null;
    const row = (m[1] === "prompts" ? promptsBox : fieldsBox).children[Number(m[2])];
    const cls = {name: m[1] === "prompts" ? ".p-name" : ".f-name", content: ".p-content", system_prompt: ".p-system",
                 position: ".p-position", model_id: ".p-model", type: ".f-type", options: ".f-options"}[m[3]];
    return row && cls ? row.querySelector(cls) : null;
  }

  function showErrors(details) {
    form.querySelectorAll(".has-error").forEach((i) => i.classList.remove("has-error"));
    form.querySelectorAll(".field-error").forEach((d) => (d.textContent = ""));
    for (const [key, messages] of Object.entries(details || {})) {
      const input = inputFor(key);
      if (!input) continue;
      input.classList.add("has-error");
      const next = input.nextElementSibling;
      const slot = next && next.classList.contains("field-error") ? next : input.parentElement.querySelector(".field-error");
      if (slot) slot.textContent = messages.join(" ");
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("builder-error");
    error.hidden = true;
    try {
      const saved = await Nexus.api(toolId ? `/api/v1/architect/tools/${toolId}` : "/api/v1/architect/tools",
                                    {method: toolId ? "PATCH" : "POST", body: JSON.stringify(body())});
      window.location = `/architect/tools/${saved.id}/run/`;
    } catch (exc) {
      error.textContent = exc.message;
      error.hidden = false;
      showErrors(exc.body && exc.body.error ? exc.body.error.details : null);
    }
  });
  document.getElementById("add-field").onclick = () => addField();
  document.getElementById("add-prompt").onclick = () => addPrompt();

  (async () => {
    models = (await Nexus.api("/api/v1/models")).results || [];
    if (toolId) {
      const tool = await Nexus.api(`/api/v1/architect/tools/${toolId}`);
      document.getElementById("tool-name").value = tool.name;
      document.getElementById("tool-description").value = tool.description;
      document.getElementById("tool-status").value = tool.status;
      tool.input_fields.forEach(addField);
      tool.prompts.forEach(addPrompt);
    } else {
      addField({name: "topic", label: "Topic"});
      addPrompt();
    }
    form.dataset.ready = "1";
  })();
})();
