"""The dashboard's frame in headless Chromium: offline API docs, the favicon, navigation, accessibility."""
from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.live]

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def test_api_docs_render_with_no_network_and_no_page_misses_its_favicon(browser_page: Any) -> None:
    page = browser_page.page
    blocked = browser_page.offline()
    missing = browser_page.not_found()
    UserFactory(email="offline@example.com")
    browser_page.login("offline@example.com")
    browser_page.screenshots("dashboard-home")

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
