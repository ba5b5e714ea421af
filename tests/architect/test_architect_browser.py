"""The Architect pages in headless Chromium: build a tool (suggestions, inline errors), run it, watch the run page."""
from __future__ import annotations

import re
from typing import Any

import pytest

from apps.architect.models import Execution
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.worker]


def test_build_run_and_watch_a_chain(fake_models: Any, celery_worker: Any, browser_page: Any) -> None:
    user = UserFactory(email="architect@example.com")
    page = browser_page.page
    browser_page.login(user.email)

    page.click("nav >> text=Architect")
    page.wait_for_url(re.compile(r"/architect/$"))
    page.click("#new-tool")
    page.wait_for_selector("#builder[data-ready='1']")
    browser_page.check_page("architect-builder")
    page.fill("#tool-name", "Two steps")
    first = page.locator(".prompt-row").nth(0)
    first.locator(".p-model").select_option("fake-openai")
    content = first.locator(".p-content")
    content.click()
    content.type("Write about {{to")
    page.wait_for_selector("#suggestions:not([hidden]) >> text=topic")
    page.keyboard.press("Enter")
    content.type(" #words=5")
    assert content.input_value() == "Write about {{topic}} #words=5"

    page.click("#add-prompt")
    second = page.locator(".prompt-row").nth(1)
    second.locator(".p-model").select_option("fake-gemini")
    second.locator(".p-content").fill("Use {{nothing}}")
    page.click("#save-tool")
    error = second.locator(".p-content + .field-error")
    page.wait_for_function("document.querySelector('.prompt-row:nth-child(2) .p-content + .field-error').textContent.length > 0")
    assert "not an input field or an earlier prompt" in error.inner_text()
    assert "has-error" in (second.locator(".p-content").get_attribute("class") or "")
    browser_page.screenshot("architect-builder-inline-error")

    # Suggestions for the second prompt include the first prompt (an earlier position).
    second.locator(".p-content").fill("")
    second.locator(".p-content").type("Summarize {{st")
    page.wait_for_selector("#suggestions:not([hidden]) >> text=step1")
    page.keyboard.press("Enter")
    second.locator(".p-content").type(" #words=40 #slow=0.03")
    page.select_option("#tool-status", "published")
    page.click("#save-tool")
    page.wait_for_url(re.compile(r"/architect/tools/[0-9a-f-]+/run/$"))
    page.wait_for_selector("#run-form[data-ready='1']")
    page.fill("#input-topic", "lighthouses")
    browser_page.check_page("architect-run-form")
    page.click("#run-tool")
    page.wait_for_url(re.compile(r"/architect/executions/[0-9a-f-]+/$"))
    page.wait_for_selector(".prompt-card[data-status=running] .prompt-output:not(:empty)")
    browser_page.screenshot("architect-run-live")
    page.wait_for_selector("#run[data-status=completed]", timeout=60_000)
    outputs = page.locator(".prompt-card .prompt-output").all_inner_texts()
    assert outputs[0].split() == [f"w{i}" for i in range(5)]
    assert outputs[1].split() == [f"w{i}" for i in range(40)]
    assert page.locator(".prompt-card[data-status=completed]").count() == 2
    page.wait_for_function("document.getElementById('run-summary').textContent.includes('credits')")
    browser_page.check_page("architect-run-complete")
    browser_page.assert_fits_phone()

    execution = Execution.objects.get(owner=user)
    assert execution.status == "completed" and execution.inputs == {"topic": "lighthouses"}
    page.click("text=Back to tools")
    page.wait_for_selector(f"#execution-list tr[data-id='{execution.pk}'] >> text=completed")
    browser_page.check_page("architect-tools")
    browser_page.assert_fits_phone()
