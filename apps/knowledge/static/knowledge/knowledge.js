// Repository page: drag-and-drop uploads (multipart, or S3 presigned POST when enabled) and live document status.
"use strict";
(function () {
  const table = document.querySelector("#documents tbody");
  if (!table) return;
  const repositoryId = JSON.parse(document.getElementById("repository-id").textContent);
  const presigned = JSON.parse(document.getElementById("presigned").textContent);
  const maxBytes = JSON.parse(document.getElementById("max-bytes").textContent);
  const dropzone = document.getElementById("dropzone");
  const input = document.getElementById("file-input");
  const errors = document.getElementById("upload-errors");
  let polling = null;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => node.setAttribute(key, value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function formatSize(bytes) {
    if (bytes < 1024) return bytes + " bytes";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  function rowFor(id) {
    return id ? table.querySelector(`tr[data-id="${id}"]`) : null;
  }

  function newRow(name, size) {
    const empty = table.querySelector("tr.empty");
    if (empty) empty.remove();
    const row = el("tr");
    row.append(el("td", {}, name), el("td", {class: "muted small"}, ""), el("td", {class: "muted small"}, formatSize(size)),
      el("td", {class: "status-cell"}), el("td", {}, "0"), el("td", {class: "actions"}));
    table.prepend(row);
    return row;
  }

  function setStatus(row, status, progress, error) {
    const cell = row.querySelector(".status-cell");
    cell.replaceChildren(el("span", {class: `badge badge-${status}`}, status));
    if (progress !== null && progress !== undefined) {
      const bar = el("progress", {max: "100"});
      bar.value = progress;
      cell.append(bar);
    }
    if (error) cell.append(el("div", {class: "doc-error"}, error));
  }

  function render(doc) {
    let row = rowFor(doc.id);
    if (!row) {
      row = newRow(doc.filename, doc.size);
      row.dataset.id = doc.id;
    }
    const cells = row.children;
    if (!cells[0].querySelector("a")) {
      cells[0].replaceChildren(el("a", {href: `/api/v1/documents/${doc.id}/download`}, doc.filename));
    }
    cells[1].textContent = doc.content_type;
    const busy = doc.status === "pending" || doc.status === "processing";
    setStatus(row, doc.status, busy ? doc.progress : null, doc.error);
    cells[4].textContent = doc.chunk_count;
  }

  async function refresh() {
    try {
      const page = await Nexus.api(`/api/v1/knowledge/${repositoryId}/documents?limit=200`);
      page.results.forEach(render);
      const busy = page.results.some((doc) => doc.status === "pending" || doc.status === "processing");
      const uploading = table.querySelector("tr.uploading");
      if (!busy && !uploading && polling) { clearInterval(polling); polling = null; }
    } catch (error) { /* a missed poll is retried on the next tick */ }
  }

  function startPolling() {
    if (!polling) polling = setInterval(refresh, 1000);
  }

  function send(url, form, row) {
    // XHR, not fetch: it reports upload progress.
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      if (url.startsWith("/")) xhr.setRequestHeader("X-CSRFToken", Nexus.csrfToken());
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) setStatus(row, "uploading", Math.round((100 * event.loaded) / event.total));
      };
      xhr.onload = () => {
        let body = null;
        try { body = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch (e) { body = null; }
        if (xhr.status >= 200 && xhr.status < 300) resolve(body);
        else reject(new Error(body && body.error ? body.error.message : `Upload failed (${xhr.status})`));
      };
      xhr.onerror = () => reject(new Error("The upload was interrupted."));
      xhr.send(form);
    });
  }

  async function upload(file) {
    const row = newRow(file.name, file.size);
    row.classList.add("uploading");
    setStatus(row, "uploading", 0);
    try {
      if (file.size > maxBytes) throw new Error(`Larger than the ${formatSize(maxBytes)} limit.`);
      let answer;
      if (presigned) {
        const ticket = await Nexus.api("/api/v1/documents/upload-url", {method: "POST", body: JSON.stringify({
          file_name: file.name, file_type: file.type || "application/octet-stream", file_size: file.size, repository_id: repositoryId})});
        const form = new FormData();
        Object.entries(ticket.fields).forEach(([key, value]) => form.append(key, value));
        form.append("file", file);
        await send(ticket.presigned_url, form, row);
        answer = await Nexus.api("/api/v1/documents/confirm", {method: "POST", body: JSON.stringify({
          file_key: ticket.file_key, file_name: file.name, file_type: file.type, repository_id: repositoryId})});
      } else {
        const form = new FormData();
        form.append("file", file);
        answer = await send(`/api/v1/knowledge/${repositoryId}/documents`, form, row);
      }
      row.dataset.id = answer.document_id;
      row.classList.remove("uploading");
      setStatus(row, answer.status, 0);
      startPolling();
    } catch (error) {
      row.classList.remove("uploading");
      setStatus(row, "failed", null, error.message);
    }
  }

  function handle(files) {
    errors.replaceChildren();
    Array.from(files).forEach(upload);
  }

  if (dropzone) {
    dropzone.addEventListener("click", (event) => { if (event.target !== input && !event.target.closest("label")) input.click(); });
    dropzone.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") input.click(); });
    ["dragenter", "dragover"].forEach((name) => dropzone.addEventListener(name, (event) => {
      event.preventDefault(); dropzone.classList.add("dragover");
    }));
    ["dragleave", "drop"].forEach((name) => dropzone.addEventListener(name, (event) => {
      event.preventDefault(); dropzone.classList.remove("dragover");
    }));
    dropzone.addEventListener("drop", (event) => handle(event.dataTransfer.files));
    input.addEventListener("change", () => { handle(input.files); input.value = ""; });
  }
  if (table.querySelector(".badge-pending, .badge-processing")) startPolling();
})();
