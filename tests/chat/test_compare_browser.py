"""The compare page in headless Chromium: Stop cancels both streams (the provider sees the connections closed)."""
from __future__ import annotations

import re
from typing import Any

import pytest

from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_compare_can_be_stopped(fake_models: Any, fake_llm: Any, browser_page: Any) -> None:
    page = browser_page.page
    UserFactory(email="comparer@example.com")
    browser_page.login("comparer@example.com")
    browser_page.nav("Compare")
    page.wait_for_url(re.compile(r"/chat/compare/"))
    page.wait_for_function("document.querySelectorAll('#model1 option').length >= 2")
    assert page.locator("#compare-stop").is_hidden()
    browser_page.check_page("compare-idle")

    page.select_option("#model1", "fake-openai")
    page.select_option("#model2", "fake-anthropic")
    page.fill("#compare-prompt", "Take your time #words=400 #slow=0.05")
    page.click("#compare-run")
    page.wait_for_selector("#compare-stop:not([hidden])")
    page.wait_for_function("[1, 2].every(n => document.querySelector(`.compare-column[data-model='${n}'] [data-role=output]`).innerText.split(' ').length > 3)")
    page.click("#compare-stop")

    page.wait_for_function("document.querySelectorAll('.compare-column .badge-stopped').length === 2")
    assert page.locator("#compare-stop").is_hidden()
    assert page.locator("#compare-run").is_enabled()
    assert page.locator("#compare-error").is_hidden()
    for n in (1, 2):
        words = page.locator(f".compare-column[data-model='{n}'] [data-role=output]").inner_text().split()
        assert 3 < len(words) < 400  # the partial answers stay
    # both provider calls were cancelled: the server closed them when the page stopped reading
    for api in ("openai", "anthropic"):
        entry = fake_llm.wait_for(lambda e, api=api: e.api == api and e.client_closed, timeout=15)
        assert entry.client_closed
    browser_page.screenshots("compare-stopped")


def test_offline_responder_in_compare_keeps_its_first_character_and_tells_the_truth(fake_models: Any, browser_page: Any) -> None:
    from apps.llm.seeds import seed_catalogue

    seed_catalogue()
    page = browser_page.page
    UserFactory(email="offline-compare@example.com")
    browser_page.login("offline-compare@example.com")
    browser_page.goto("/chat/compare/")
    page.wait_for_function("Array.from(document.querySelectorAll('#model1 option')).some(o => o.value === 'nexus-offline')")
    page.select_option("#model1", "nexus-offline")
    page.select_option("#model2", "fake-openai")
    page.fill("#compare-prompt", "Hello there #words=5")
    page.click("#compare-run")
    page.wait_for_function("document.querySelectorAll('.compare-column .badge-complete').length === 2")
    text = page.locator(".compare-column[data-model='1'] [data-role=output]").inner_text()
    assert text.startswith('Nexus offline responder (not an AI model). You said: "Hello there #words=5".')
    assert "No language model provider is configured" not in text  # fake-openai, a real provider, answered beside it
    assert page.locator(".compare-column[data-model='2'] [data-role=output]").inner_text().split() == [f"w{i}" for i in range(5)]
