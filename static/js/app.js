// Small shared helpers for dashboard pages; no build step.
"use strict";
window.Nexus = {
  csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  },
  async api(path, options = {}) {
    const headers = Object.assign({"Content-Type": "application/json", "X-CSRFToken": this.csrfToken()}, options.headers || {});
    const response = await fetch(path, Object.assign({credentials: "same-origin"}, options, {headers}));
    const body = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) {
      const message = body && body.error ? body.error.message : response.statusText;
      throw Object.assign(new Error(message), {status: response.status, body});
    }
    return body;
  },
  copy(text, button) {
    navigator.clipboard.writeText(text).then(() => {
      if (button) { const old = button.textContent; button.textContent = "Copied"; setTimeout(() => (button.textContent = old), 1500); }
    });
  },
};
