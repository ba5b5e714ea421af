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

// The navigation: the Menu button (narrow screens) and the account menu open and close on click;
// Escape or a click elsewhere closes them and gives the focus back to their button.
(function () {
  const toggles = Array.from(document.querySelectorAll(".nav-toggle, .account-toggle"));
  function panelOf(button) { return document.getElementById(button.getAttribute("aria-controls")); }
  function setOpen(button, open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    panelOf(button).classList.toggle("open", open);
  }
  toggles.forEach((button) => {
    button.addEventListener("click", (event) => {
      event.stopPropagation();
      setOpen(button, button.getAttribute("aria-expanded") !== "true");
    });
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    toggles.slice().reverse().forEach((button) => {
      if (button.getAttribute("aria-expanded") === "true") { setOpen(button, false); button.focus(); }
    });
  });
  document.addEventListener("click", (event) => {
    toggles.forEach((button) => {
      if (button.getAttribute("aria-expanded") === "true" && !panelOf(button).contains(event.target)) setOpen(button, false);
    });
  });
})();
