"""Browser tests: a real daphne server driven by Debian's Chromium through Playwright's sync API.

    def test_something(browser_page):
        browser_page.goto("/login/")
        browser_page.page.fill("#id_username", ...)
        browser_page.screenshot("login")          # -> tests/screenshots/login.png
        browser_page.check_page("login")          # axe check + screenshots at 1366 px and 390 px

Every dashboard page test calls `check_page` on each page it visits: it fails on any serious or critical
axe-core violation (axe-core ships inside axe-playwright-python's wheel: no network) and keeps a
screenshot at the desktop and the phone width. `offline()` aborts every request that does not go to
the loopback server, so a page that needs the internet shows it.

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
from urllib.parse import urlsplit

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
DESKTOP = {"width": 1366, "height": 860}
PHONE = {"width": 390, "height": 844}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
# axe-core impacts that fail a page; "moderate" and "minor" findings are reported, not fatal.
AXE_FATAL_IMPACTS = {"serious", "critical"}


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

    def login(self, email: str, password: str = "correct-horse-battery") -> None:
        """Sign in through the login page (UserFactory's password by default) and land on the home page."""
        self.goto("/login/")
        self.page.fill("#id_username", email)
        self.page.fill("#id_password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(self.base_url + "/")

    def nav(self, label: str) -> None:
        """Follow a navigation link (or the Log out button) as a person would, opening the folded menus first."""
        target = self.page.locator(f"#site-nav :is(a, button):text-is('{label}')")
        for toggle in ("[data-testid=nav-toggle]", "[data-testid=account-toggle]"):
            if target.is_visible():
                break
            button = self.page.locator(toggle)
            if button.is_visible() and button.get_attribute("aria-expanded") != "true":
                button.click()
        with self.page.expect_navigation():
            target.click()

    def screenshot(self, name: str) -> Path:
        """Save a full-page screenshot as tests/screenshots/<name>.png."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def screenshots(self, name: str) -> list[Path]:
        """Screenshots at 1366 px and at 390 px (<name>-1366.png, <name>-390.png); the viewport is restored."""
        original = self.page.viewport_size or DESKTOP
        paths = []
        for size in (DESKTOP, PHONE):
            self.page.set_viewport_size(size)
            paths.append(self.screenshot(f"{name}-{size['width']}"))
        self.page.set_viewport_size(original)
        return paths

    def axe_violations(self) -> list[dict[str, Any]]:
        """The serious and critical axe-core violations of the current page."""
        from axe_playwright_python.sync_playwright import Axe

        results = Axe().run(self.page)
        return [v for v in results.response["violations"] if v.get("impact") in AXE_FATAL_IMPACTS]

    def assert_accessible(self) -> None:
        """Fail on any serious or critical axe-core violation of the current page, naming each element."""
        # Colours are read as they are at rest: axe run during a CSS transition (the admin's links and
        # buttons fade for 0.15 s after the colour scheme switches) read colours half-way between two themes.
        self.page.add_style_tag(content="*, *::before, *::after { transition: none !important; animation: none !important; }")
        violations = self.axe_violations()
        report = [
            f"{v['id']} ({v['impact']}): {v['help']} -> "
            + "; ".join(f"{node['target']} {(node.get('any') or [{}])[0].get('message', '')[:140]}" for node in v["nodes"][:5])
            for v in violations
        ]
        assert not violations, f"axe violations on {self.page.url}:\n" + "\n".join(report)

    def check_page(self, name: str) -> None:
        """The checks every dashboard page passes: axe at 1366 px and 390 px (light and dark), and screenshots."""
        original = self.page.viewport_size or DESKTOP
        for size in (DESKTOP, PHONE):
            self.page.set_viewport_size(size)
            self.assert_accessible()
        self.page.emulate_media(color_scheme="dark")
        self.assert_accessible()
        self.page.emulate_media(color_scheme="light")
        self.page.set_viewport_size(original)
        self.screenshots(name)

    def assert_fits_phone(self) -> None:
        """Fail when the current page scrolls sideways at 390 px (something runs off a phone's screen), naming what does."""
        original = self.page.viewport_size or DESKTOP
        self.page.set_viewport_size(PHONE)
        wide = self.page.evaluate("""() => document.documentElement.scrollWidth > innerWidth
            ? [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1).slice(0, 6)
                .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\\s+/).join('.') : ''))
            : []""")
        self.page.set_viewport_size(original)
        assert not wide, f"{self.page.url} is wider than 390 px: {wide}"

    def offline(self) -> list[str]:
        """Abort every request that does not go to the loopback server; returns the (live) list of aborted URLs."""
        blocked: list[str] = []

        def route(request_route: Any) -> None:
            url = request_route.request.url
            host = urlsplit(url).hostname or ""
            if url.startswith(("data:", "blob:")) or host in LOOPBACK_HOSTS:
                request_route.continue_()
            else:
                blocked.append(url)
                request_route.abort()

        self.page.context.route("**/*", route)
        return blocked

    def not_found(self) -> list[str]:
        """Start recording the URLs that answer 404 (a missing favicon, script or style); returns the live list."""
        missing: list[str] = []
        self.page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
        return missing


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
