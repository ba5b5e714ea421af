// Workflow editor: steps as a layered graph, shared live over WS /ws/workflows/{id} (presence, cursors,
// versioned block edits; a `conflict` re-syncs), plus runs: start, follow (polling) and resume.
"use strict";
(function () {
  const root = document.getElementById("editor");
  const id = root.dataset.workflowId;
  const canEdit = root.dataset.canEdit === "1";
  const $ = (x) => document.getElementById(x);
  let steps = [];
  let version = 0;
  let socket = null;
  let statuses = {};

  function layers() {
    const depth = steps.map(() => 0);
    steps.forEach((step, i) => { (step.depends_on || []).forEach((d) => { depth[i] = Math.max(depth[i], depth[d] + 1); }); });
    const out = [];
    steps.forEach((step, i) => { (out[depth[i]] = out[depth[i]] || []).push(i); });
    return out;
  }

  function render() {
    $("version").textContent = `v${version}`;
    const graph = $("graph");
    graph.innerHTML = "";
    layers().forEach((layer) => {
      const column = document.createElement("div");
      column.className = "wf-layer";
      layer.forEach((i) => {
        const step = steps[i];
        const box = document.createElement("div");
        box.className = `wf-step status-${statuses[step.name] || "idle"}`;
        box.dataset.step = step.name;
        const deps = (step.depends_on || []).map((d) => steps[d].name).join(", ");
        box.innerHTML = `<strong class="name"></strong> <span class="kind"></span><div class="deps"></div>`;
        box.querySelector(".name").textContent = step.name;
        box.querySelector(".kind").textContent = step.kind;
        box.querySelector(".deps").textContent = deps ? `after ${deps}` : "start";
        if (canEdit) {
          const remove = document.createElement("button");
          remove.type = "button"; remove.className = "btn btn-small delete-step"; remove.textContent = "Delete";
          remove.addEventListener("click", () => send({type: "block:delete", version, data: {index: i}}));
          box.appendChild(remove);
        }
        box.addEventListener("mouseenter", () => send({type: "cursor:move", data: {step: step.name}}));
        column.appendChild(box);
      });
      graph.appendChild(column);
    });
    const deps = $("step-deps");
    if (deps) {
      deps.innerHTML = "";
      steps.forEach((step, i) => {
        const label = document.createElement("label");
        label.innerHTML = `<input type="checkbox" value="${i}"> `;
        label.append(step.name);
        deps.appendChild(label);
      });
    }
  }

  function setPresence(users) {
    $("presence").textContent = users.map((u) => u.email).sort().join(", ");
  }
  let present = [];

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  function showError(text) { const box = $("edit-error"); box.textContent = text; box.hidden = !text; }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/workflows/${id}`);
    socket.addEventListener("open", () => { $("room-status").textContent = "live"; });
    socket.addEventListener("close", () => { $("room-status").textContent = "reconnecting…"; setTimeout(connect, 1000); });
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      const data = message.data || {};
      switch (message.type) {
        case "connected": case "workflow:state":
          steps = data.steps; version = data.version; present = data.users || []; setPresence(present); render(); break;
        case "user:join":
          present = message.users || present.filter((u) => u.id !== data.id).concat([data]); setPresence(present); break;
        case "user:leave":
          // `users` is who remains (the same person may still be here on another connection).
          present = message.users || present.filter((u) => u.id !== data.id); setPresence(present); break;
        case "block:add": case "block:update": case "block:delete":
          steps = message.steps; version = message.version; render(); break;
        case "ack":
          steps = data.steps; version = data.version; showError(""); render(); break;
        case "conflict":
          showError(`Someone else changed the workflow (now v${data.current_version}); re-synced, try again.`);
          send({type: "workflow:join"}); break;
        case "cursor:move": {
          const box = document.querySelector(`.wf-step[data-step="${CSS.escape((data && data.step) || "")}"]`);
          if (box && message.user) box.title = `${message.user.email} is here`;
          break;
        }
        case "error":
          showError(data.details ? `${data.message} ${JSON.stringify(data.details)}` : data.message); break;
      }
    });
  }

  // A starting config per kind (API.md, Workflows): picking a kind fills the box with its fields.
  const CONFIG_EXAMPLES = {
    condition: {expression: "true"},
    llm: {model_id: "", prompt: "Summarize {{input.text}}"},
    knowledge_search: {query: "{{input.question}}", limit: 5},
    http: {method: "GET", url: "https://example.com/"},
    architect: {tool_id: "", inputs: {}},
    agent_task: {agent_id: "", input: "{{input.text}}"},
  };
  const form = $("add-step");
  if (form) {
    $("step-kind").addEventListener("change", () => {
      $("step-config").value = JSON.stringify(CONFIG_EXAMPLES[$("step-kind").value] || {}, null, 1);
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      let config;
      try { config = JSON.parse($("step-config").value); } catch (error) { showError("The config is not valid JSON."); return; }
      const depends = Array.from(document.querySelectorAll("#step-deps input:checked")).map((box) => Number(box.value));
      send({type: "block:add", version, data: {step: {name: $("step-name").value, kind: $("step-kind").value, config, depends_on: depends}}});
      $("step-name").value = "";
    });
  }

  async function follow(runId) {
    $("run-view").hidden = false;
    $("run-id").textContent = runId.slice(0, 8);
    for (;;) {
      const run = await Nexus.api(`/api/v1/runs/${runId}`);
      $("run-status").textContent = run.status;
      $("run-cost").textContent = `${run.cost} credits`;
      statuses = {};
      $("run-steps").innerHTML = "";
      run.steps.forEach((step) => {
        statuses[step.name] = step.status;
        const li = document.createElement("li");
        li.dataset.step = step.name;
        li.textContent = `${step.name}: ${step.status}` + (step.output !== undefined && step.output !== null ? ` → ${JSON.stringify(step.output).slice(0, 200)}` : "")
          + (step.error ? ` (${step.error.code}: ${step.error.message})` : "");
        $("run-steps").appendChild(li);
      });
      render();
      $("resume-run").hidden = run.status !== "failed";
      $("resume-run").onclick = async () => { await Nexus.api(`/api/v1/runs/${runId}/resume`, {method: "POST"}); follow(runId); };
      if (["completed", "failed", "cancelled"].includes(run.status)) return;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  $("run-workflow").addEventListener("click", async () => {
    const run = await Nexus.api(`/api/v1/workflows/${id}/execute`, {method: "POST", body: JSON.stringify({input: {}})});
    const li = document.createElement("li");
    li.dataset.runId = run.id;
    li.textContent = `${run.status} (just now)`;
    $("run-list").prepend(li);
    follow(run.id);
  });
  document.querySelectorAll("#run-list li").forEach((li) => li.addEventListener("click", () => follow(li.dataset.runId)));

  if (canEdit) connect();
  else { $("room-status").textContent = "read only"; fetch(`/api/v1/workflows/${id}`).then((r) => r.json()).then((w) => { steps = w.steps; version = w.version; render(); }); }
})();
