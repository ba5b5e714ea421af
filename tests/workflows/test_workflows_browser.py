"""The workflow editor in headless Chromium with two users: live presence and edits on the same graph, a run lit up."""
from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from apps.accounts.models import WorkspaceMember
from apps.workflows.models import Workflow
from tests.browser import CHROMIUM_ARGS, BrowserSession, require_chromium
from tests.factories import UserFactory, WorkspaceFactory

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.worker]
PASSWORD = "correct-horse-battery"


def _login(page: Any, base_url: str, email: str) -> None:
    page.goto(base_url + "/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base_url + "/")


def test_two_editors_share_the_graph_live_and_a_run_lights_up(fake_models: Any, daphne_server: Any, flow_worker: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    alice, bob = UserFactory(email="alice@example.com"), UserFactory(email="bob@example.com")
    workspace = WorkspaceFactory(owner=alice)
    WorkspaceMember.objects.create(workspace=workspace, user=bob, role="admin")
    base = daphne_server.url
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS, headless=True)
        try:
            first = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
            second = browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
            for page in (first, second):
                page.set_default_timeout(20_000)
            _login(first, base, alice.email)
            first.click("nav >> text=Workflows")
            first.wait_for_url(re.compile(r"/workflows/$"))
            checks = BrowserSession(page=first, base_url=base, server=daphne_server)
            checks.check_page("workflows-list")
            first.fill("#new-name", "Shared flow")
            first.click("#create-workflow")
            first.wait_for_url(re.compile(r"/workflows/[0-9a-f-]+/$"))
            workflow = Workflow.objects.get(owner=alice)
            Workflow.objects.filter(pk=workflow.pk).update(workspace=workspace)
            first.reload()
            expect(first.locator("#room-status")).to_have_text("live")

            _login(second, base, bob.email)
            second.goto(f"{base}/workflows/{workflow.pk}/")
            expect(second.locator("#room-status")).to_have_text("live")
            expect(first.locator("#presence")).to_have_text("alice@example.com, bob@example.com")
            expect(second.locator("#presence")).to_have_text("alice@example.com, bob@example.com")

            # alice adds a step after "start"; bob's graph shows it without a reload
            first.fill("#step-name", "check")
            first.fill("#step-config", '{"expression": "1 + 1 == 2"}')
            first.check("#step-deps input[value='0']")
            first.click("#add-step-button")
            expect(second.locator(".wf-step[data-step='check']")).to_be_visible()
            expect(second.locator("#version")).to_have_text("v2")
            # bob deletes it; alice sees it go
            second.locator(".wf-step[data-step='check'] .delete-step").click()
            expect(first.locator(".wf-step[data-step='check']")).to_have_count(0)
            expect(first.locator("#version")).to_have_text("v3")

            # a run lights the step up
            first.click("#run-workflow")
            expect(first.locator("#run-status")).to_have_text("completed", timeout=60_000)
            expect(first.locator(".wf-step[data-step='start']")).to_have_class(re.compile("status-completed"))
            checks.check_page("workflows-editor-run")
            checks.assert_fits_phone()
            second.close()
            expect(first.locator("#presence")).to_have_text("alice@example.com")
        finally:
            browser.close()
    workflow.refresh_from_db()
    assert workflow.version == 3 and [step["name"] for step in workflow.steps] == ["start"]
