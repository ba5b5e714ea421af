"""The retrieval debugger opened from a repository's link: no errors on arrival, the repository chosen, Search works."""
from __future__ import annotations

from typing import Any

import pytest

from apps.knowledge import services
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_debugger_from_a_repository_link_lands_clean_and_searches(browser_page: Any) -> None:
    from apps.accounts.seeds import seed as seed_accounts

    seed_accounts()
    page = browser_page.page
    user = UserFactory(email="reader@example.com")
    repository = services.repository_create(user=user, name="Energy notes")
    services.repository_create(user=user, name="Other notes")
    browser_page.login("reader@example.com")
    browser_page.goto(f"/knowledge/{repository.pk}/")
    with page.expect_navigation():
        page.click("text=Debug retrieval in this repository")

    assert page.locator(".alert-error").count() == 0
    assert "This field is required" not in page.inner_text("main")
    assert page.locator("#id_repository option:checked").all_inner_texts() == ["Energy notes"]
    assert page.input_value("#id_limit") == "10"
    browser_page.check_page("knowledge-debugger-from-repository")

    page.fill("#id_q", "wind power")
    with page.expect_navigation():
        page.click("button:has-text('Search')")
    assert page.locator(".alert-error").count() == 0
    assert page.get_by_role("heading", name="0 results").is_visible()  # the search ran (an empty repository)
    assert f"repository={repository.pk}" in page.url
