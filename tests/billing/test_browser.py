"""The billing page in a real browser: balance, usage chart, buying credits through (fake) Stripe Checkout and its webhook."""
from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from apps.billing import services
from tests.billing.conftest import STRIPE_KEY, WEBHOOK_SECRET
from tests.browser import BrowserSession, require_chromium
from tests.conftest import start_daphne, stop_process
from tests.factories import UserFactory
from tests.fakes.stripe_server import FakeStripe

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture
def stripe_and_server(transactional_db: Any, tmp_path: Path) -> Iterator[tuple[FakeStripe, Any]]:
    """A fake Stripe that delivers its webhooks to a daphne server configured to use it."""
    from apps.accounts.seeds import seed as seed_accounts
    from apps.billing.seeds import seed as seed_billing

    seed_accounts()
    seed_billing()
    fake = FakeStripe(api_key=STRIPE_KEY, webhook_secret=WEBHOOK_SECRET).start()
    server = start_daphne(tmp_path, STRIPE_SECRET_KEY=STRIPE_KEY, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_API_BASE=fake.url,
                          STRIPE_MAX_NETWORK_RETRIES="0")
    fake.webhook_url = server.url + "/api/v1/billing/webhook"
    try:
        yield fake, server
    finally:
        stop_process(server.process)
        fake.stop()


def test_billing_page_buy_credits_through_checkout(stripe_and_server, monkeypatch):  # type: ignore[no-untyped-def]
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM_ARGS

    fake, server = stripe_and_server
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    user = UserFactory(email="buyer@example.com")
    services.credit_charge(account_or_user=user, amount=Decimal("12.5"), type="usage", idempotency_key="u1", model_name="gpt-4o-mini")
    services.credit_charge(account_or_user=user, amount=Decimal("4"), type="usage", idempotency_key="u2", model_name="claude-haiku")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 860}, color_scheme="light")
        page = context.new_page()
        page.set_default_timeout(20_000)
        session = BrowserSession(page=page, base_url=server.url, server=server)
        try:
            session.goto("/login/")
            page.fill("#id_username", "buyer@example.com")
            page.fill("#id_password", "correct-horse-battery")
            page.click("button[type=submit]")
            page.wait_for_url(server.url + "/")
            session.nav("Billing")
            page.wait_for_url(server.url + "/billing/")
            assert page.get_by_test_id("balance").inner_text() == "183.50"
            assert page.locator("[data-testid=usage-chart] rect").count() == 2
            assert "gpt-4o-mini" in page.get_by_test_id("usage-legend").inner_text()
            assert page.get_by_test_id("transactions").locator("tbody tr").count() == 3
            session.check_page("billing-page")

            page.get_by_test_id("buy-starter").click()  # to (fake) Stripe Checkout
            page.wait_for_url(fake.url + "/checkout/*")
            assert "Pay $10.00" in page.get_by_test_id("checkout-amount").inner_text()
            session.screenshot("billing-stripe-checkout")
            page.click("#pay")  # the fake completes the session, delivers the signed webhook, redirects back
            page.wait_for_url(server.url + "/billing/?checkout=success*")
            assert page.get_by_test_id("checkout-success").is_visible()
            assert page.get_by_test_id("balance").inner_text() == "1183.50"
            assert page.get_by_test_id("purchased").inner_text() == "1000"
            session.check_page("billing-after-purchase")
            assert [status for _id, status in fake.delivered] == [200]

            page.get_by_test_id("manage-subscription").click()
            page.wait_for_url(fake.url + "/portal/*")
            page.click("#return")
            page.wait_for_url(server.url + "/billing/")
        finally:
            context.close()
            browser.close()

