"""The Forge pages in headless Chromium: start a build, watch it live, read the result, open the deployed app in its sandbox."""
from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from apps.forge.models import Build
from tests.factories import UserFactory

from .conftest import script_app

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.worker]


def test_new_build_live_progress_result_and_sandboxed_app(forge_model: Any, celery_worker: Any, browser_page: Any) -> None:
    script_app(forge_model)
    user = UserFactory(email="forge@example.com")
    page = browser_page.page
    browser_page.login(user.email)

    page.click("nav >> text=Forge")
    page.wait_for_url(re.compile(r"/forge/$"))
    page.fill("#prompt", "A to-do list with two sample tasks #slow=0.02")
    page.select_option("#styling", "dark")
    browser_page.check_page("forge-new-build")
    page.click("#start-build")
    page.wait_for_url(re.compile(r"/forge/builds/[0-9a-f-]+/$"))
    page.wait_for_selector("#phases li.done", timeout=60_000)
    browser_page.screenshot("forge-live-progress")
    page.wait_for_selector("#result:not([hidden])", timeout=60_000)
    assert page.inner_text("#build-status") == "completed"
    assert "Todo Lite" in page.inner_text("#app-name")
    assert page.locator("#file-list li").count() == 3
    page.wait_for_function("document.querySelector('#screenshots img') && document.querySelector('#screenshots img').naturalWidth > 0")
    page.click("#file-list >> text=app.js")
    assert page.locator("#file-view .tok-kw").count() > 0  # highlighted
    log = page.inner_text("#build-log")
    assert "[analyzing]" in log and "Completed in" in log
    browser_page.check_page("forge-result")
    browser_page.assert_fits_phone()
    build = Build.objects.get(owner=user)
    assert build.status == "completed"

    # The build list shows it.
    browser_page.goto("/forge/?search=todo")
    assert "Todo Lite" in page.inner_text("#build-list")
    browser_page.check_page("forge-builds")

    # The deployed app runs, but in an opaque origin: no platform cookies, no API as the visitor.
    cookies = {c["name"] for c in page.context.cookies()}
    assert "sessionid" in cookies
    app_path = "/apps/" + build.deployment.slug + "/"
    browser_page.goto(app_path)
    # (expect, not wait_for_function: the app's CSP forbids the eval that one needs)
    expect(page.locator("#api-probe")).not_to_have_text("pending")
    assert page.locator("#tasks li").count() == 2
    assert page.inner_text("#cookie-probe") == "cookies-blocked"
    assert page.inner_text("#api-probe") == "api-blocked"
    assert "sessionid" not in page.content()
    browser_page.screenshot("forge-deployed-app-sandboxed")
