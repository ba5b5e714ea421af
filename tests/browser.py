"""Browser tests: a real daphne server driven by Debian's Chromium through Playwright's sync API.

    def test_something(browser_page):
        browser_page.goto("/login/")
        browser_page.page.fill("#id_username", ...)
        browser_page.screenshot("login")          # -> tests/screenshots/login.png

Registered for the whole suite by `pytest_plugins = ["tests.browser"]` in tests/conftest.py.
The browser is the system's Chromium (`CHROMIUM_PATH`, default /usr/bin/chromium); nothing is
downloaded. Without one, the tests skip, unless the `CI` environment variable is set: then a
missing browser is a failure, so CI can never pass by skipping them.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """The system Chromium to drive, or None when this machine has none."""
    candidate = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if Path(candidate).is_file() and os.access(candidate, os.X_OK):
        return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    """The Chromium path; skips the test without one, but fails under CI."""
    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("No Chromium found (set CHROMIUM_PATH); browser tests must run in CI.")
        pytest.skip("No Chromium on this machine and CI is unset.")
    return path


@dataclass
class BrowserSession:
    """One browser page on a live server, with helpers for paths and screenshots."""

    page: Any  # playwright.sync_api.Page
    base_url: str
    server: Any  # tests.conftest.LiveServer

    def goto(self, path: str) -> Any:
        """Open a path of the live server and wait for the page to load."""
        return self.page.goto(self.base_url + path, wait_until="load")

    def screenshot(self, name: str) -> Path:
        """Save a full-page screenshot as tests/screenshots/<name>.png."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def browser_page(daphne_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[BrowserSession]:
    """A fresh Chromium page (its own cookies) on a real daphne server over the test database."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread, which makes Django refuse ORM
    # calls from the test body; the test itself is still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 860}, color_scheme="light")
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=daphne_server.url)
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            yield BrowserSession(page=page, base_url=daphne_server.url, server=daphne_server)
        finally:
            context.close()
            browser.close()
