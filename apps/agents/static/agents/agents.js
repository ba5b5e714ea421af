// Agents pages: marketplace (discover), agent page (trust chart, send a task), editor, and the live task console.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const el = (tag, props = {}, text = "") => { const node = Object.assign(document.createElement(tag), props); if (text) node.textContent = text; return node; };
  const trustClass = (score) => (score >= 70 ? "trust-high" : score < 40 ? "trust-low" : "trust");

  // ---- Marketplace ---------------------------------------------------------
  function marketplace() {
    const results = $("agent-results");
    async function search() {
      const params = new URLSearchParams();
      const add = (name, value) => { if (value) params.set(name, value); };
      add("q", $("f-q").value.trim()); add("skill_tags", $("f-tags").value.trim()); add("match", $("f-match").value);
      add("category", $("f-category").value.trim()); add("min_trust_score", $("f-trust").value); add("status", $("f-status").value);
      const page = await Nexus.api(`/api/v1/discover?${params}`);
      results.textContent = "";
      $("result-count").textContent = `${page.count} agent${page.count === 1 ? "" : "s"}`;
      for (const agent of page.results) {
        const card = el("article", {className: "ag-card"});
        card.dataset.agentId = agent.id;
        const title = el("h3"); title.appendChild(el("a", {href: `/agents/${agent.id}/`}, agent.name)); card.appendChild(title);
        const badges = el("div", {className: "badges"});
        badges.appendChild(el("span", {className: `badge ${trustClass(agent.trust_score)} trust-badge`}, `trust ${agent.trust_score.toFixed(1)}`));
        badges.appendChild(el("span", {className: `badge status-${agent.status}`}, agent.status));
        badges.appendChild(el("span", {className: "badge"}, `${Number(agent.price_per_task).toFixed(2)} credits`));
        card.appendChild(badges);
        card.appendChild(el("p", {className: "muted"}, agent.description));
        const tags = [...new Set(agent.skills.flatMap((s) => s.tags).concat(agent.tags))];
        card.appendChild(el("p", {}, agent.skills.map((s) => s.name).join(" · ")));
        if (tags.length) card.appendChild(el("p", {className: "muted"}, tags.map((t) => `#${t}`).join(" ")));
        results.appendChild(card);
      }
      $("marketplace").dataset.ready = "1";
    }
    $("discover-form").addEventListener("submit", (event) => { event.preventDefault(); search(); });
    search();
    Nexus.api("/api/v1/tasks?limit=20").then((page) => {
      const body = $("my-tasks").querySelector("tbody");
      for (const task of page.results) {
        const row = el("tr");
        const link = el("td"); link.appendChild(el("a", {href: `/agents/tasks/${task.id}/`}, task.title || task.id)); row.appendChild(link);
        row.appendChild(el("td", {}, task.agent_name));
        row.appendChild(el("td")).appendChild(el("span", {className: `badge status-${task.status}`}, task.status));
        row.appendChild(el("td", {}, Number(task.price).toFixed(2)));
        row.appendChild(el("td", {}, new Date(task.created_at).toLocaleString()));
        body.appendChild(row);
      }
    });
  }

  // ---- Agent page ----------------------------------------------------------
  function agentPage() {
    const root = $("agent-page");
    const agentId = root.dataset.agentId;
    Nexus.api(`/api/v1/trust/${agentId}`).then((trust) => {
      const box = $("trust-components");
      for (const [name, value] of Object.entries(trust.components)) {
        const item = el("div"); item.appendChild(el("strong", {}, name)); item.appendChild(el("div", {className: "muted"}, `${Math.round(value * 100)} %`));
        box.appendChild(item);
      }
    });
    Nexus.api(`/api/v1/trust/${agentId}/history?limit=200`).then((page) => {
      const points = page.results.slice().reverse();
      const svg = $("trust-chart");
      const ns = "http://www.w3.org/2000/svg";
      const width = 600, height = 160, pad = 12;
      const x = (i) => pad + (points.length < 2 ? (width - 2 * pad) / 2 : (i * (width - 2 * pad)) / (points.length - 1));
      const y = (score) => height - pad - (score / 100) * (height - 2 * pad);
      const line = document.createElementNS(ns, "polyline");
      line.setAttribute("points", points.map((p, i) => `${x(i)},${y(p.score)}`).join(" "));
      line.setAttribute("fill", "none"); line.setAttribute("stroke", "#2563eb"); line.setAttribute("stroke-width", "2");
      svg.appendChild(line);
      points.forEach((p, i) => {
        const dot = document.createElementNS(ns, "circle");
        dot.setAttribute("cx", x(i)); dot.setAttribute("cy", y(p.score)); dot.setAttribute("r", "3"); dot.setAttribute("fill", "#2563eb");
        const title = document.createElementNS(ns, "title"); title.textContent = `${p.kind}: ${p.score}`; dot.appendChild(title);
        svg.appendChild(dot);
      });
      svg.dataset.points = String(points.length);
    });
    $("task-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = $("task-error");
      error.hidden = true;
      try {
        const task = await Nexus.api("/api/v1/tasks", {method: "POST", body: JSON.stringify({
          assigned_agent_id: agentId, title: $("task-title").value, description: $("task-description").value,
          timeout_seconds: Number($("task-timeout").value) || undefined,
        })});
        window.location.href = `/agents/tasks/${task.id}/`;
      } catch (exc) { error.textContent = exc.message; error.hidden = false; }
    });
  }

  // ---- Editor --------------------------------------------------------------
  function editor() {
    const root = $("agent-editor");
    const agentId = root.dataset.agentId;
    const showErrors = (exc) => {
      document.querySelectorAll(".field-error").forEach((node) => (node.textContent = ""));
      const details = (exc.body && exc.body.error && exc.body.error.details) || {};
      let shown = false;
      for (const [field, messages] of Object.entries(details)) {
        const key = field.startsWith("skills") ? "skills" : field;
        const slot = document.querySelector(`.field-error[data-field="${key}"]`);
        if (slot) { slot.textContent += `${field}: ${messages.join(" ")} `; shown = true; }
      }
      if (!shown) { $("agent-error").textContent = exc.message; $("agent-error").hidden = false; }
    };
    $("agent-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      $("agent-error").hidden = true;
      let skills;
      try { skills = JSON.parse($("a-skills").value || "[]"); } catch (exc) {
        document.querySelector('.field-error[data-field="skills"]').textContent = "Skills must be a JSON list."; return;
      }
      const body = {
        name: $("a-name").value, description: $("a-description").value, endpoint: $("a-endpoint").value,
        protocol_version: $("a-protocol").value, category: $("a-category").value, visibility: $("a-visibility").value,
        tags: $("a-tags").value.split(",").map((t) => t.trim()).filter(Boolean), price_per_task: $("a-price").value || "0", skills,
      };
      try {
        const agent = await Nexus.api(agentId ? `/api/v1/agents/${agentId}` : "/api/v1/agents", {method: agentId ? "PATCH" : "POST", body: JSON.stringify(body)});
        window.location.href = `/agents/${agent.id}/`;
      } catch (exc) { showErrors(exc); }
    });
    const importForm = $("import-form");
    if (importForm) importForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const agent = await Nexus.api("/api/v1/agents", {method: "POST", body: JSON.stringify({card_url: $("card-url").value})});
        window.location.href = `/agents/${agent.id}/`;
      } catch (exc) { showErrors(exc); }
    });
  }

  // ---- Task console ----------------------------------------------------------
  function taskConsole() {
    const root = $("task-console");
    const taskId = root.dataset.taskId;
    const requester = root.dataset.requester === "1";
    const badge = $("task-status");
    const seenMessages = new Set();
    const seenArtifacts = new Set();
    const renderParts = (parts) => parts.map((p) => (p.kind === "text" ? p.text : p.kind === "data" ? JSON.stringify(p.data) : `[file ${p.filename || p.url || ""}]`)).join("\n");
    const addMessage = (message) => {
      if (message.id && seenMessages.has(message.id)) return;
      if (message.id) seenMessages.add(message.id);
      const item = el("li", {className: `role-${message.role}`});
      item.appendChild(el("strong", {}, message.role === "agent" ? "Agent" : "You"));
      item.appendChild(el("pre", {}, renderParts(message.parts)));
      $("task-messages").appendChild(item);
    };
    const addArtifact = (artifact) => {
      if (seenArtifacts.has(artifact.artifact_id)) return;
      seenArtifacts.add(artifact.artifact_id);
      const box = el("div", {className: "ag-card"});
      box.appendChild(el("strong", {}, artifact.name || artifact.artifact_id));
      box.appendChild(el("pre", {}, renderParts(artifact.parts)));
      $("task-artifacts").appendChild(box);
    };
    const setStatus = (status, error) => {
      badge.textContent = status;
      badge.className = `badge status-${status}`;
      root.dataset.status = status;
      const ended = ["completed", "failed", "cancelled", "timed_out"].includes(status);
      if ($("cancel-task")) $("cancel-task").hidden = ended;
      if ($("reply-form")) $("reply-form").hidden = status !== "input-required";
      if ($("rate-form")) $("rate-form").hidden = !ended;
      if (error) { $("task-error").textContent = `${error.code}: ${error.message}`; $("task-error").hidden = false; }
    };
    // The stream replays every event in order, so once it has given a status that status is newer than
    // any snapshot: a GET answered late (read before the worker moved on) must not set it back.
    let streamedStatus = false;
    Nexus.api(`/api/v1/tasks/${taskId}`).then((task) => {
      task.messages.forEach(addMessage); task.artifacts.forEach(addArtifact);
      if (!streamedStatus) setStatus(task.status, task.error);
      if (task.rating && $("rate-form")) $("rate-result").textContent = `rated ${task.rating}/5`;
    });
    const source = new EventSource(`/api/v1/tasks/${taskId}/stream`);
    const log = (type, data) => $("task-events").appendChild(el("li", {}, `${type} ${data.status || ""}`.trim()));
    const on = (type, handler) => source.addEventListener(type, (event) => { const data = JSON.parse(event.data); log(type, data); handler(data); });
    on("status", (d) => { streamedStatus = true; setStatus(d.status, d.error); });
    on("message", (d) => addMessage(d.message));
    on("artifact", (d) => addArtifact(d.artifact));
    on("complete", (d) => { streamedStatus = true; source.close(); setStatus(d.status, d.error); root.dataset.complete = "1"; });
    if (requester) {
      $("cancel-task").onclick = () => Nexus.api(`/api/v1/tasks/${taskId}/cancel`, {method: "POST"}).catch((exc) => { $("task-error").textContent = exc.message; $("task-error").hidden = false; });
      $("reply-form").addEventListener("submit", (event) => {
        event.preventDefault();
        const text = $("reply-text").value;
        $("reply-text").value = "";
        Nexus.api(`/api/v1/tasks/${taskId}/reply`, {method: "POST", body: JSON.stringify({message: text})});
      });
      $("rate-form").addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          const rating = await Nexus.api(`/api/v1/trust/${root.dataset.agentId}/rate`, {method: "POST",
            body: JSON.stringify({task_id: taskId, rating: Number($("rate-value").value)})});
          $("rate-result").textContent = `rated ${rating.rating}/5`;
        } catch (exc) { $("rate-result").textContent = exc.message; }
      });
    }
  }

  if ($("marketplace")) marketplace();
  if ($("agent-page")) agentPage();
  if ($("agent-editor")) editor();
  if ($("task-console")) taskConsole();
})();
