"""The chat page with platform tools in headless Chromium: pick a tool, see the call and its result folded under the reply."""
from __future__ import annotations

import re
from typing import Any

import pytest

from tests.factories import UserFactory

from .conftest import knowledge_repository

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_tool_calls_are_folded_under_the_reply_and_survive_a_reload(fake_models: Any, fake_llm: Any, browser_page: Any) -> None:
    user = UserFactory(email="tool-user@example.com")
    repository = knowledge_repository(user)
    fake_llm.script_tool("vacation policy", ("search_knowledge", {"query": "paid vacation", "repository_ids": [str(repository.pk)]}))
    fake_llm.script("vacation policy", lambda texts: "You get 25 days of paid vacation [1]." if "25 days" in texts else "Nothing found.")
    page = browser_page.page
    browser_page.login(user.email)

    browser_page.goto("/chat/")
    page.select_option("#model-select", "fake-openai")
    page.wait_for_selector("#tool-picker:not([hidden])")
    page.click("#tool-picker summary")
    page.check("#tool-picker input[value=search_knowledge]")
    assert page.inner_text("#tool-picker summary") == "Tools (1)"
    page.click("#tool-picker summary")
    page.fill("#prompt", "What is the vacation policy?")
    page.click("#send")
    page.wait_for_selector(".message-assistant[data-status=complete]")
    assert "25 days of paid vacation" in page.inner_text(".message-assistant .message-body")
    calls = page.locator(".message-assistant .tool-calls")
    assert calls.locator("summary").first.inner_text() == "1 tool call"
    calls.locator("summary").first.click()
    call = calls.locator(".tool-call[data-tool=search_knowledge]")
    assert call.get_attribute("data-state") == "done" and "search_knowledge · done" in call.locator("summary").inner_text()
    call.locator("summary").click()
    assert "Employees get 25 days of paid vacation per year." in call.locator(".tool-result").inner_text()
    browser_page.screenshot("chat-tool-calls")

    # A reload shows the stored call and result under the reply.
    page.wait_for_url(re.compile(r"\?c="))
    page.reload(wait_until="load")
    page.wait_for_selector(".message-assistant .tool-calls .tool-call[data-state=done]", state="attached")
    assert "paid vacation" in (page.locator(".message-assistant .tool-call .tool-args").text_content() or "")
