// The compare page: both models stream side by side; tokens, time and cost under each.
"use strict";
(function () {
  const form = document.getElementById("compare-form");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const column = (n) => document.querySelector(`.compare-column[data-model="${n}"]`);
  const part = (n, role) => column(n).querySelector(`[data-role="${role}"]`);

  async function loadModels() {
    const page = await Nexus.api("/api/v1/models");
    const models = page.results || page.data || page;
    for (const select of [$("model1"), $("model2")]) {
      for (const model of models) select.add(new Option(model.name, model.name));
    }
    if (models.length > 1) $("model2").selectedIndex = 1;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    $("compare-error").hidden = true;
    const texts = { 1: "", 2: "" };
    for (const n of [1, 2]) {
      column(n).querySelector(".compare-name").textContent = $(`model${n}`).value;
      part(n, "output").innerHTML = "";
      part(n, "stats").textContent = "";
      part(n, "status").textContent = "streaming";
      part(n, "status").className = "badge badge-running";
    }
    $("compare-run").disabled = true;
    const controller = new AbortController();
    const stop = () => controller.abort();
    $("compare-stop").hidden = false;
    $("compare-stop").addEventListener("click", stop, { once: true });
    try {
      const response = await fetch("/api/v1/compare?stream=true", {
        method: "POST", credentials: "same-origin", signal: controller.signal,
        headers: { "Content-Type": "application/json", "X-CSRFToken": Nexus.csrfToken() },
        body: JSON.stringify({ prompt: $("compare-prompt").value, model1_id: $("model1").value, model2_id: $("model2").value,
                               system_prompt: $("system-prompt").value }),
      });
      if (!response.ok) {
        const body = await response.json().catch(() => null);
        throw new Error(body && body.error ? body.error.message : response.statusText);
      }
      await NexusSSE.read(response, ({ data }) => {
        const n = data.model;
        if (data.type === "text-delta") {
          texts[n] += data.content;
          part(n, "output").innerHTML = NexusMarkdown.render(texts[n]);
        } else if (data.type === "finish") {
          const u = data.usage || {};
          part(n, "stats").textContent = `${u.total_tokens ?? "?"} tokens · ${data.duration_ms} ms · ${Number(data.cost || 0).toFixed(4)} credits`;
          part(n, "status").textContent = "complete";
          part(n, "status").className = "badge badge-complete";
        } else if (data.type === "error") {
          part(n, "stats").textContent = data.error.message;
          part(n, "status").textContent = "failed";
          part(n, "status").className = "badge badge-failed";
        }
      });
    } catch (error) {
      if (controller.signal.aborted) {
        // Stopped by the person: what streamed so far stays, each unfinished side marked stopped.
        for (const n of [1, 2]) {
          if (part(n, "status").textContent === "streaming") {
            part(n, "status").textContent = "stopped";
            part(n, "status").className = "badge badge-stopped";
          }
        }
      } else {
        $("compare-error").textContent = error.message;
        $("compare-error").hidden = false;
      }
    } finally {
      $("compare-stop").removeEventListener("click", stop);
      $("compare-stop").hidden = true;
      $("compare-run").disabled = false;
    }
  });

  loadModels().catch((error) => { $("compare-error").textContent = error.message; $("compare-error").hidden = false; });
})();
