"""Screenshots of a built app in headless Chromium (Playwright), taken from the build's files with no network.

The page is loaded from a made-up origin whose every request is answered from the files in
memory (with the deployed apps' CSP); anything else is aborted, so a generated app cannot reach
any server while it is photographed. No Chromium (or Playwright) on the machine: no screenshots,
and the build goes on.
"""
from __future__ import annotations

import asyncio
import logging
import mimetypes
import shutil
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from django.conf import settings

logger = logging.getLogger("nexus.forge")
ORIGIN = "http://forge-preview.invalid"


def chromium_path() -> str | None:
    """The Chromium to drive, or None."""
    configured = settings.FORGE_CHROMIUM_PATH
    if configured and Path(configured).is_file():
        return str(configured)
    return shutil.which("chromium") or shutil.which("chromium-browser")


def page_files(pages: list[dict[str, Any]], files: dict[str, str]) -> list[tuple[str, str]]:
    """(page name, file path) of the spec's pages that exist as HTML files; the entry page first."""
    found: list[tuple[str, str]] = [("Home", "index.html")] if "index.html" in files else []
    for page in pages:
        raw = str(page.get("path") or "").strip("/")
        for candidate in (raw, f"{raw}.html", f"{raw}/index.html"):
            if candidate and candidate.endswith(".html") and candidate in files and all(p != candidate for _, p in found):
                found.append((str(page.get("name") or candidate)[:80], candidate))
                break
    return found[: settings.FORGE_MAX_SCREENSHOTS]


async def capture(*, files: dict[str, str], pages: list[dict[str, Any]]) -> list[tuple[str, str, bytes]]:
    """PNG screenshots `(page name, file path, bytes)` of the app's pages; empty when no browser is available."""
    executable = chromium_path()
    targets = page_files(pages, files)
    if not settings.FORGE_SCREENSHOTS or executable is None or not targets or find_spec("playwright") is None:
        return []
    try:
        return await asyncio.wait_for(_capture(executable, files, targets), timeout=settings.FORGE_SCREENSHOT_TIMEOUT_SECONDS)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # screenshots are a bonus: the build still completes without them
        logger.warning("Screenshots failed: %s", exc)
        return []


async def _capture(executable: str, files: dict[str, str], targets: list[tuple[str, str]]) -> list[tuple[str, str, bytes]]:
    from playwright.async_api import Route, async_playwright

    async def answer(route: Route) -> None:
        url = route.request.url
        path = url[len(ORIGIN) + 1:].split("?", 1)[0].split("#", 1)[0] if url.startswith(ORIGIN + "/") else None
        if path is not None and (path or "index.html") in files:
            path = path or "index.html"
            content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
            await route.fulfill(status=200, body=files[path], content_type=content_type,
                                headers={"Content-Security-Policy": settings.FORGE_APPS_CSP})
        else:
            await route.abort()

    shots: list[tuple[str, str, bytes]] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            await context.route("**/*", answer)
            page = await context.new_page()
            for name, path in targets:
                await page.goto(f"{ORIGIN}/{path}", wait_until="load", timeout=10_000)
                await page.wait_for_timeout(300)  # let the app's own script draw
                shots.append((name, path, await page.screenshot(full_page=False)))
        finally:
            await browser.close()
    return shots
