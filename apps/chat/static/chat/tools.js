// Platform tools on the chat page: the picker of tools the model may call (GET /api/v1/tools), and the
// calls and results of a reply, folded under it (live from tool-call / tool-result events, or stored).
"use strict";
window.NexusChatTools = (function () {
  function picker() { return document.getElementById("tool-picker"); }

  async function load() {
    const box = picker();
    if (!box) return;
    const page = await Nexus.api("/api/v1/tools");
    const list = box.querySelector(".tool-options");
    for (const tool of page.results || []) {
      const label = document.createElement("label");
      label.className = "tool-option";
      label.title = tool.description;
      const input = document.createElement("input");
      input.type = "checkbox";
      input.value = tool.name;
      input.addEventListener("change", count);
      label.append(input, " " + tool.name);
      list.appendChild(label);
    }
    box.hidden = !(page.results || []).length;
  }

  function count() {
    const n = selected().length;
    picker().querySelector("summary").textContent = n ? `Tools (${n})` : "Tools";
  }

  function selected() {
    const box = picker();
    return box ? [...box.querySelectorAll("input:checked")].map((input) => input.value) : [];
  }

  function pretty(value) {
    return JSON.stringify(value, null, 2);
  }

  // calls: [{id, name, args, result?, error?, stopped?}]; a call with none of these is still running.
  function render(el, calls) {
    let box = el.querySelector(".tool-calls");
    if (!calls || !calls.length) { if (box) box.remove(); return; }
    if (!box) {
      box = document.createElement("details");
      box.className = "tool-calls";
      box.innerHTML = "<summary></summary><div class='tool-call-list'></div>";
      el.querySelector(".message-body").after(box);
    }
    box.querySelector("summary").textContent = `${calls.length} tool call${calls.length > 1 ? "s" : ""}`;
    const list = box.querySelector(".tool-call-list");
    list.innerHTML = "";
    for (const call of calls) {
      const item = document.createElement("details");
      item.className = "tool-call";
      item.dataset.tool = call.name;
      const state = call.error ? `error: ${call.error.code}` : call.result ? "done" : call.stopped ? "stopped" : "running…";
      item.dataset.state = call.error ? "error" : call.result ? "done" : call.stopped ? "stopped" : "running";
      const summary = document.createElement("summary");
      summary.textContent = `${call.name} · ${state}`;
      const args = document.createElement("pre");
      args.className = "tool-args";
      args.textContent = pretty(call.args || {});
      const out = document.createElement("pre");
      out.className = "tool-result";
      out.textContent = call.error ? `${call.error.code}: ${call.error.message}` : call.result ? pretty(call.result) : "";
      item.append(summary, args, out);
      list.appendChild(item);
    }
  }

  // Folds a stream event into the calls list; true when it was a tool event.
  function apply(calls, data) {
    if (data.type === "tool-call") {
      calls.push({ id: data.call_id, name: data.tool_name, args: data.args });
      return true;
    }
    if (data.type === "tool-result") {
      const call = calls.find((c) => c.id === data.call_id) || { id: data.call_id, name: data.tool_name, args: {} };
      if (!calls.includes(call)) calls.push(call);
      if (data.error) call.error = data.error; else call.result = data.result;
      return true;
    }
    return false;
  }

  return { load, selected, render, apply };
})();
