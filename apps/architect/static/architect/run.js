// The live run page: one card per prompt, filled from the execution's SSE stream (replayed from the start).
"use strict";
(() => {
  const root = document.getElementById("run");
  const executionId = root.dataset.executionId;
  const prompts = JSON.parse(document.getElementById("run-prompts").textContent);
  const cards = {};
  const statusBadge = document.getElementById("run-status");
  const box = document.getElementById("prompt-cards");

  for (const p of prompts) {
    const card = document.createElement("section");
    card.className = "prompt-card";
    card.dataset.promptId = p.id;
    card.dataset.status = "waiting";
    card.innerHTML = `<header><strong></strong><span class="muted"></span><span class="badge prompt-status">waiting</span><span class="muted prompt-meta"></span></header><pre class="prompt-output"></pre>`;
    card.querySelector("strong").textContent = `${p.position}. ${p.name}`;
    card.querySelector("header .muted").textContent = p.model;
    box.appendChild(card);
    cards[p.id] = card;
  }

  function setStatus(card, status) {
    card.dataset.status = status;
    const badge = card.querySelector(".prompt-status");
    badge.textContent = status;
    badge.className = `badge prompt-status status-${status}`;
  }

  function finish(status, error) {
    statusBadge.textContent = status;
    statusBadge.className = `badge status-${status}`;
    root.dataset.status = status;
    document.getElementById("cancel-run").hidden = true;
    for (const card of Object.values(cards)) if (card.dataset.status === "running") setStatus(card, status === "completed" ? "completed" : "stopped");
    if (error) { const e = document.getElementById("run-error"); e.textContent = `${error.code}: ${error.message}`; e.hidden = false; }
    Nexus.api(`/api/v1/architect/executions/${executionId}`).then((x) => {
      document.getElementById("run-summary").textContent =
        `${x.total_tokens} tokens · ${x.cost.toFixed(4)} credits` + (x.duration_ms !== null ? ` · ${x.duration_ms} ms` : "");
    });
  }

  const source = new EventSource(`/api/v1/architect/executions/${executionId}/events`);
  const on = (type, handler) => source.addEventListener(type, (event) => handler(JSON.parse(event.data)));
  on("execution_started", () => { statusBadge.textContent = "running"; statusBadge.className = "badge status-running"; });
  on("prompt_started", (d) => { const c = cards[d.prompt_id]; if (c) { c.querySelector(".prompt-output").textContent = ""; setStatus(c, "running"); } });
  on("prompt_chunk", (d) => { const c = cards[d.prompt_id]; if (c) c.querySelector(".prompt-output").textContent += d.content; });
  on("prompt_complete", (d) => {
    const c = cards[d.prompt_id];
    if (!c) return;
    c.querySelector(".prompt-output").textContent = d.output;
    c.querySelector(".prompt-meta").textContent = `${d.metadata.tokens.total} tokens · ${d.metadata.cost.toFixed(4)} credits · ${d.metadata.duration_ms} ms`;
    setStatus(c, "completed");
  });
  on("execution_complete", () => { source.close(); finish("completed"); });
  on("execution_failed", (d) => { source.close(); finish("failed", d.error); });
  on("execution_cancelled", () => { source.close(); finish("cancelled"); });

  document.getElementById("cancel-run").onclick = () => Nexus.api(`/api/v1/architect/executions/${executionId}/cancel`, {method: "POST"}).catch(() => {});
  if (["completed", "failed", "cancelled"].includes(statusBadge.textContent.trim())) document.getElementById("cancel-run").hidden = true;
})();
