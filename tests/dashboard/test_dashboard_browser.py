"""The dashboard's frame in headless Chromium: offline API docs, the favicon, navigation, accessibility."""
from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.live]

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@pytest.fixture(autouse=True)
def _default_tiers_and_roles(transactional_db: Any) -> None:
    """The tiers and roles the migrations seed (a transactional test before this one flushed them)."""
    from apps.accounts.models import Role, Tier
    from apps.accounts.seeds import seed_rows

    seed_rows(Tier, Role)


def test_api_docs_render_with_no_network_and_no_page_misses_its_favicon(browser_page: Any) -> None:
    page = browser_page.page
    blocked = browser_page.offline()
    missing = browser_page.not_found()
    UserFactory(email="offline@example.com")
    browser_page.login("offline@example.com")
    browser_page.check_page("dashboard-home")

    # the menu's "API" link opens Swagger UI, its assets served by the platform
    with page.expect_navigation():
        page.get_by_role("navigation", name="Main").get_by_role("link", name="API", exact=True).click()
    assert page.url.endswith("/api/v1/docs")
    # Swagger UI rendered the operations (it draws those in view; its state holds every one of the schema)
    page.wait_for_function("document.querySelectorAll('.opblock').length >= 5")
    schema = httpx.get(browser_page.base_url + "/api/v1/schema", headers={"accept": "application/json"}).json()
    operations = sum(1 for item in schema["paths"].values() for method in item if method in HTTP_METHODS)
    assert page.evaluate("ui.specSelectors.operations().size") == operations > 50
    assert page.evaluate("typeof SwaggerUIBundle") == "function"
    browser_page.screenshots("api-docs-swagger")

    # Redoc beside it
    browser_page.goto("/api/v1/redoc")
    page.wait_for_selector("text=Nexus API")
    page.wait_for_selector("[role=menuitem]", state="attached")
    assert page.evaluate("typeof Redoc") == "object"
    browser_page.screenshots("api-docs-redoc")

    # the admin names no icon: the browser's own /favicon.ico request answers instead of 404
    browser_page.goto("/admin/login/")
    page.wait_for_timeout(500)  # the browser asks for the icon after the load
    assert not missing, missing
    assert not blocked, f"pages tried to reach the network: {blocked}"
    icon = httpx.get(browser_page.base_url + "/favicon.ico", follow_redirects=True)
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/")


def test_one_navigation_that_folds_on_a_phone_with_keyboard_focus_and_a_dark_theme(browser_page: Any) -> None:
    page = browser_page.page
    UserFactory(email="layout@example.com", is_staff=True)
    browser_page.login("layout@example.com")
    toggle, account = page.get_by_test_id("nav-toggle"), page.get_by_test_id("account-toggle")

    # 1366 px (and 1280 px): the tools on one line, account pages behind the account menu
    for width in (1280, 1366):
        page.set_viewport_size({"width": width, "height": 860})
        tops = page.locator("nav[aria-label=Main] a").evaluate_all("links => links.map(link => link.getBoundingClientRect().top)")
        assert len(tops) >= 3 and len(set(tops)) == 1, tops
        assert page.locator("header.topbar").bounding_box()["height"] < 70
        last = page.locator("nav[aria-label=Main] a").last.bounding_box()
        assert last["x"] + last["width"] <= account.bounding_box()["x"]  # nothing runs under the account menu
    assert not toggle.is_visible()
    assert not page.get_by_role("link", name="Profile").is_visible()
    account.click()
    assert account.get_attribute("aria-expanded") == "true"
    assert page.get_by_role("link", name="Profile").is_visible()
    assert page.get_by_role("link", name="Admin").is_visible()
    browser_page.screenshot("dashboard-account-menu-1366")
    page.keyboard.press("Escape")
    assert not page.get_by_role("link", name="Profile").is_visible()
    assert page.evaluate("document.activeElement.dataset.testid") == "account-toggle"

    # focus is visible on keyboard use
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")

    # 390 px: a Menu button instead of rows of links; Escape closes it
    page.set_viewport_size({"width": 390, "height": 844})
    assert toggle.is_visible()
    assert page.locator("header.topbar").bounding_box()["height"] < 80
    assert not page.get_by_role("link", name="Knowledge").is_visible()
    browser_page.screenshot("dashboard-menu-closed-390")
    toggle.click()
    assert page.get_by_role("link", name="Knowledge").is_visible()
    assert page.get_by_role("link", name="Profile").is_visible()  # the account pages are in the same menu
    browser_page.screenshot("dashboard-menu-open-390")
    page.keyboard.press("Escape")
    assert not page.get_by_role("link", name="Knowledge").is_visible()
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    with page.expect_navigation():
        page.get_by_role("link", name="Profile").click()
    assert page.url.endswith("/account/")

    # the dark theme follows the system setting
    page.set_viewport_size({"width": 1366, "height": 860})
    light = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.emulate_media(color_scheme="dark")
    dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert light == "rgb(246, 247, 251)" and dark == "rgb(15, 18, 32)"
    browser_page.check_page("dashboard-profile")
