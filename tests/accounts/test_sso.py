"""Single sign-on end to end in a browser: Nexus's log-in page, django-allauth, and a loopback OpenID Connect provider."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.accounts.models import User
from tests.browser import CHROMIUM_ARGS, require_chromium
from tests.conftest import start_daphne, stop_process
from tests.factories import UserFactory
from tests.fakes.oidc_server import FakeOidcProvider

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture
def sso(transactional_db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeOidcProvider, Any, Any]]:
    """The fake provider, a daphne configured for it from the environment, and a Chromium page."""
    from apps.accounts.seeds import seed

    seed()
    executable = require_chromium()
    provider = FakeOidcProvider()
    server = start_daphne(tmp_path, OIDC_CLIENT_ID=provider.client_id, OIDC_CLIENT_SECRET=provider.client_secret,
                          OIDC_SERVER_URL=provider.url, OIDC_PROVIDER_ID="fakeidp", OIDC_NAME="Fake IdP")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_context().new_page()
            page.set_default_timeout(20_000)
            try:
                yield provider, server, page
            finally:
                browser.close()
    finally:
        stop_process(server.process)
        provider.stop()


def _sign_in(page: Any, server: Any) -> None:
    page.goto(server.url + "/login/", wait_until="load")
    assert page.locator("[data-testid=sso-fakeidp]").count() == 1, page.content()[-3000:] + server.log()
    page.click("[data-testid=sso-fakeidp]")
    page.wait_for_load_state("load")


def test_first_sign_in_creates_the_user_with_the_default_role_and_tier(sso: Any) -> None:
    provider, server, page = sso
    provider.next_user = {"sub": "idp-1", "email": "nina@example.com", "email_verified": True, "given_name": "Nina"}
    _sign_in(page, server)
    assert page.url.rstrip("/") == server.url, (page.url, server.log())
    user = User.objects.get(email="nina@example.com")
    assert user.tier_id == "free" and set(user.roles.values_list("name", flat=True)) == {"user"}
    assert {"GET /.well-known/openid-configuration", "GET /authorize", "POST /token"} <= set(provider.requests)
    # The session works on a signed-in page; a second sign-in finds the same user.
    assert page.goto(server.url + "/account/").url.endswith("/account/")
    page.context.clear_cookies()
    _sign_in(page, server)
    assert User.objects.filter(email="nina@example.com").count() == 1


def test_an_existing_account_is_linked_only_through_a_verified_email(sso: Any) -> None:
    provider, server, page = sso
    existing = UserFactory(email="olga@example.com")
    provider.next_user = {"sub": "idp-2", "email": "olga@example.com", "email_verified": False}
    _sign_in(page, server)
    assert not existing.socialaccount_set.exists()
    assert page.goto(server.url + "/account/").url.startswith(server.url + "/login/")  # not signed in as Olga

    page.context.clear_cookies()
    provider.next_user = {"sub": "idp-2", "email": "olga@example.com", "email_verified": True}
    _sign_in(page, server)
    assert existing.socialaccount_set.filter(uid="idp-2").exists()
    assert page.goto(server.url + "/account/").url.endswith("/account/")
    assert User.objects.filter(email="olga@example.com").count() == 1
