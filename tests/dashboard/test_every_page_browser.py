"""Every page of the registry's navigation in headless Chromium, as a normal user: it renders, logs no console error,
reaches nothing but this server, and passes the axe check at 1366 px and 390 px (screenshots of each kept)."""
from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from apps.core.registry import navigation_entries
from tests.browser import DESKTOP, PHONE
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.live]

# The chat page is checked by its own tests (tests/chat); here it must still render cleanly.
AXE_ELSEWHERE = {"chat:chat"}


@pytest.fixture(autouse=True)
def _default_tiers_and_roles(transactional_db: Any) -> None:
    """The tiers and roles the migrations seed (a transactional test before this one flushed them)."""
    from apps.accounts.models import Role, Tier
    from apps.accounts.seeds import seed_rows

    seed_rows(Tier, Role)


def test_every_navigation_page_renders_offline_without_console_errors_and_passes_axe(browser_page: Any) -> None:
    page = browser_page.page
    blocked = browser_page.offline()
    missing = browser_page.not_found()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(f"{page.url}: {message.text}") if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
    UserFactory(email="every-page@example.com")
    browser_page.login("every-page@example.com")

    inaccessible: list[str] = []
    overflowing: list[str] = []
    entries = [entry for entry in navigation_entries() if entry.tool != "admin"]
    assert {"Architect", "Agents", "Forge", "Workflows", "Voice", "Knowledge", "Retrieval debugger", "Compare", "Billing",
            "Shared links"} <= {entry.label for entry in entries}
    # every entry a normal user holds is offered by the menu, and each one opens its page
    offered = page.locator("#site-nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    for entry in entries:
        path = reverse(entry.url_name)
        assert path in offered, f"{entry.label} ({path}) is not in the menu"
        response = browser_page.goto(path)
        assert response is not None and response.status == 200, f"{path} answered {response and response.status}"
        page.wait_for_load_state("networkidle")
        assert page.locator("main h1").count() == 1, f"{path} has no single main heading"
        page.set_viewport_size(PHONE)  # nothing runs off the side of a phone: no sideways scroll of the page
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if width[0] > width[1]:
            culprits = page.evaluate("""() => [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1)
                .slice(0, 6).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : ''))""")
            overflowing.append(f"{path}: {width[0]} px wide at {width[1]} px ({', '.join(culprits)})")
        page.set_viewport_size(DESKTOP)
        if entry.url_name not in AXE_ELSEWHERE:
            try:  # every page's findings in one report
                browser_page.check_page("page-" + entry.url_name.replace(":", "-"))
            except AssertionError as failure:
                inaccessible.append(str(failure).split("\nassert ")[0])
    assert not inaccessible, "\n".join(inaccessible)
    assert not overflowing, overflowing
    assert not errors, "console errors:\n" + "\n".join(errors)
    assert not missing, f"pages asked for missing files: {missing}"
    assert not blocked, f"pages tried to reach the network: {blocked}"


def test_error_pages_are_styled_accessible_and_say_what_happened(browser_page: Any) -> None:
    from apps.accounts.models import Role, UserRole

    page = browser_page.page
    user = UserFactory(email="chat-only@example.com")
    UserRole.objects.filter(user=user).delete()
    UserRole.objects.create(user=user, role=Role.objects.create(name="chat-only", tools=["chat"]))
    browser_page.login(user.email)

    response = browser_page.goto("/no-such-page/")
    assert response is not None and response.status == 404
    assert page.locator("main h1").inner_text() == "Page not found"
    browser_page.check_page("error-404")

    # a page of a tool the roles do not grant: 403 with the reason, and the menu does not offer it
    response = browser_page.goto("/architect/")
    assert response is not None and response.status == 403
    assert page.locator("main h1").inner_text() == "Not allowed"
    assert "assistant-architect" in page.locator("main").inner_text()
    assert page.locator("#site-nav a[href='/architect/']").count() == 0
    browser_page.check_page("error-403")


def test_admin_pages_a_staff_member_reaches(browser_page: Any) -> None:
    from tests.factories import AdminUserFactory

    page = browser_page.page
    AdminUserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    browser_page.login("staff@example.com")
    for path, name in (("/admin/", "admin-index"), ("/admin/accounts/user/", "admin-users"), ("/admin/llm/", "admin-llm"),
                       ("/admin/llm/llmmodel/add/", "admin-llm-model-add")):
        response = browser_page.goto(path)
        assert response is not None and response.status == 200, f"{path} answered {response and response.status}"
        assert page.locator("#content h1").count() == 1
        browser_page.check_page(name)


def test_signed_out_pages_pass_axe(browser_page: Any) -> None:
    page = browser_page.page
    blocked = browser_page.offline()
    for path, heading, name in (("/signup/", "Create your Nexus account", "signup"), ("/password-reset/", "Reset your password", "password-reset")):
        response = browser_page.goto(path)
        assert response is not None and response.status == 200
        assert heading.lower() in page.locator("main h1").inner_text().lower()
        browser_page.check_page(name)
    assert not blocked, blocked
