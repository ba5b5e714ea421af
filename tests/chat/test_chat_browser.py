"""The chat and compare pages in headless Chromium: stream, reload mid-reply and continue, compare."""
from __future__ import annotations

import re
from typing import Any

import pytest

from apps.chat.models import Message
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_chat_streams_survives_a_reload_and_compare_works(fake_models: Any, browser_page: Any) -> None:
    user = UserFactory(email="chatter@example.com")
    page = browser_page.page
    browser_page.login(user.email)

    page.click("nav >> text=Chat")
    page.wait_for_url(re.compile(r"/chat/"))
    page.select_option("#model-select", "fake-openai")
    page.fill("#prompt", "Show me code #words=6")
    page.click("#send")
    page.wait_for_selector(".message-assistant[data-status=complete]")
    assert page.inner_text(".message-assistant .message-body").split() == [f"w{i}" for i in range(6)]
    assert "tokens" in page.inner_text(".message-assistant .message-meta")
    page.wait_for_function("document.querySelectorAll('#conversation-list li[data-id]').length === 1")
    browser_page.screenshot("chat-complete")

    # A long, slow reply: reload while it streams; the page re-attaches and the reply goes on.
    page.fill("#prompt", "Now a long one #words=80 #slow=0.05")
    page.click("#send")
    page.wait_for_function("(document.querySelector('.message-assistant[data-status=streaming] .message-body') || {}).innerText?.split(' ').length > 5")
    browser_page.screenshot("chat-streaming")
    page.reload(wait_until="load")
    page.wait_for_selector(".message-assistant[data-status=streaming]")
    page.wait_for_selector(".message-assistant >> nth=1", state="attached")
    page.wait_for_function("document.querySelectorAll('.message-assistant[data-status=complete]').length === 2", timeout=30_000)
    second = page.locator(".message-assistant").nth(1).inner_text()
    assert " ".join(f"w{i}" for i in range(80)) in " ".join(second.split())
    browser_page.screenshot("chat-after-reload")
    stored = Message.objects.filter(conversation__owner=user, role="assistant").order_by("created_at")
    assert [m.status for m in stored] == ["complete", "complete"]

    # Stop: the partial reply stays, marked incomplete.
    page.fill("#prompt", "Stop me #words=300 #slow=0.05")
    page.click("#send")
    page.wait_for_selector("#stop:not([hidden])")
    page.wait_for_function("(document.querySelector('.message-assistant[data-status=streaming] .message-body') || {}).innerText?.split(' ').length > 3")
    page.click("#stop")
    page.wait_for_selector(".message-assistant[data-status=incomplete]")
    browser_page.screenshot("chat-stopped")

    # Compare: two columns stream side by side.
    page.click("nav >> text=Compare")
    page.select_option("#model1", "fake-openai")
    page.select_option("#model2", "fake-anthropic")
    page.fill("#compare-prompt", "Compare this #words=10")
    page.click("#compare-run")
    page.wait_for_function("document.querySelectorAll('.compare-column .badge-complete').length === 2")
    for n in (1, 2):
        column = page.locator(f".compare-column[data-model='{n}']")
        assert column.locator("[data-role=output]").inner_text().split() == [f"w{i}" for i in range(10)]
        assert "tokens" in column.locator("[data-role=stats]").inner_text()
    browser_page.screenshot("compare")
