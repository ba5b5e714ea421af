// Forge build page: follows WS /ws/forge/{id} (reconnecting from the last seq), then shows the result.
"use strict";
(function () {
  const root = document.getElementById("build");
  const id = root.dataset.buildId;
  const $ = (x) => document.getElementById(x);
  let lastSeq = 0;
  let ended = false;

  function log(line) { $("build-log").textContent += line + "\n"; $("build-log").scrollTop = 1e9; }
  function setStatus(status) { $("build-status").textContent = status; $("build-status").className = `badge status-${status}`; }
  function setPhase(phase, done) {
    document.querySelectorAll("#phases li").forEach((li) => {
      if (li.dataset.phase === phase) li.classList.add(done ? "done" : "active");
    });
  }
  function setProgress(p) { $("build-progress").value = p; $("build-percent").textContent = `${p}%`; }

  // One pass over strings and keywords, so markup added for one is never matched by the other.
  const TOKENS = /("[^"\n]*"|'[^'\n]*')|\b(function|const|let|var|return|if|else|for|while|class|import|from|def|async|await|new|true|false|null|None|True|False)\b/g;
  function escape(text) { return text.replace(/[&<>]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;"}[c])); }
  function highlight(code, language) {
    const html = escape(code);
    if (language === "html" || language === "svg") return html.replace(/(&lt;\/?[a-zA-Z0-9-]+)/g, '<span class="tok-tag">$1</span>');
    return html.replace(TOKENS, (match, str, kw) => str ? `<span class="tok-str">${str}</span>` : `<span class="tok-kw">${kw}</span>`);
  }

  async function showResult() {
    const build = await Nexus.api(`/api/v1/forge/builds/${id}`);
    setStatus(build.status);
    setProgress(build.progress);
    if (build.app_name) $("app-name").textContent = build.app_name;
    if (build.status !== "completed") {
      if (build.error) { $("build-error").textContent = `${build.error.error_code}: ${build.error.message}`; $("build-error").hidden = false; }
      $("cancel-build").hidden = true;
      return;
    }
    $("cancel-build").hidden = true;
    $("result").hidden = false;
    const r = build.result;
    $("result-summary").textContent = `${r.files.length} files · ${r.cost.toFixed(4)} credits · ${r.build_time_seconds} s · ${r.total_tokens} tokens`;
    if (r.deployment_url) { $("open-app").href = new URL(r.deployment_url).pathname; $("open-app").hidden = false; }
    $("screenshots").innerHTML = "";
    const figure = (url, caption) => {
      const box = document.createElement("figure");
      const img = document.createElement("img");
      img.src = url; img.alt = caption;
      const text = document.createElement("figcaption");
      text.textContent = caption;
      box.append(img, text);
      $("screenshots").appendChild(box);
    };
    (r.screenshots || []).forEach((shot) => figure(shot.url, `Screenshot: ${shot.page}`));
    (r.mockups || []).forEach((mockup) => figure(mockup.url, `Mockup: ${mockup.page}`));
    const list = $("file-list");
    list.innerHTML = "";
    r.files.forEach((file, index) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button"; button.className = "link"; button.textContent = `${file.path} (${file.size} B)`;
      button.addEventListener("click", () => { $("file-view").innerHTML = highlight(file.content, file.language); });
      li.appendChild(button); list.appendChild(li);
      if (index === 0 || file.path === "index.html") $("file-view").innerHTML = highlight(file.content, file.language);
    });
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/forge/${id}?after=${lastSeq}`);
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (event.type !== "connected" && typeof event.seq === "number") lastSeq = event.seq;
      const d = event.data || {};
      if (event.type === "connected") { setStatus(d.status); setProgress(d.progress); }
      else if (event.type === "progress_update") { setStatus(d.phase); setPhase(d.phase, false); setProgress(d.progress); log(`[${d.phase}] ${d.message}`); }
      else if (event.type === "phase_completed") { setPhase(d.phase, true); log(`✓ ${d.phase} ${JSON.stringify(d.results)}`); }
      else if (event.type === "build_completed") { ended = true; setProgress(100); log(`Completed in ${d.total_time}`); showResult(); }
      else if (event.type === "error") { ended = true; log(`✗ ${d.error_code}: ${d.message}`); showResult(); }
    };
    socket.onclose = (close) => {
      if (ended || close.code >= 4000) { if (!ended) showResult(); return; }
      setTimeout(connect, 1000);  // dropped: reconnect from the last seq, nothing is missed
    };
  }

  $("cancel-build").addEventListener("click", async () => {
    try { await Nexus.api(`/api/v1/forge/builds/${id}`, {method: "DELETE"}); log("Cancelling…"); } catch (err) { log(err.message); }
  });
  $("deploy").addEventListener("click", async () => {
    try { const d = await Nexus.api(`/api/v1/forge/builds/${id}/deploy`, {method: "POST", body: JSON.stringify({environment: "production"})}); log(`Deployed at ${d.deployment_url}`); showResult(); } catch (err) { log(err.message); }
  });
  $("undeploy").addEventListener("click", async () => {
    try { await Nexus.api(`/api/v1/forge/builds/${id}/deploy`, {method: "DELETE"}); log("Undeployed"); $("open-app").hidden = true; } catch (err) { log(err.message); }
  });
  connect();
})();
