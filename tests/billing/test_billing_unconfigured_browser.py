"""The billing page on a server without Stripe: the payment controls say so before any click; ledger references link."""
from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from apps.billing import services
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_payment_controls_explain_they_are_off_and_references_link_to_what_they_name(browser_page: Any) -> None:
    from apps.accounts.seeds import seed as seed_accounts
    from apps.billing.seeds import seed as seed_billing

    seed_accounts()
    seed_billing()
    page = browser_page.page
    user = UserFactory(email="payer@example.com")
    execution, build, task = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for key, reference in (("a", f"architect:{execution}:p1"), ("f", f"forge:{build}:plan"), ("t", f"agent-task:{task}"),
                           ("x", "something else")):
        services.credit_charge(account_or_user=user, amount=Decimal("1"), reference=reference, idempotency_key=key)
    browser_page.login("payer@example.com")
    browser_page.nav("Billing")

    # before any click: the reason, next to controls that cannot be pressed
    notice = page.get_by_test_id("payments-off")
    assert "Payments are not configured on this server" in notice.inner_text()
    assert "STRIPE_SECRET_KEY" in notice.inner_text()
    buttons = page.locator("[data-testid^=buy-], [data-testid^=subscribe-], [data-testid=manage-subscription]")
    assert buttons.count() >= 3
    for index in range(buttons.count()):
        button = buttons.nth(index)
        assert button.is_disabled()
        if button.inner_text() != "Current plan":
            assert button.get_attribute("aria-describedby") == "payments-off"

    # ledger references are links to the execution, build and task they name
    references = page.get_by_test_id("reference")
    assert references.get_by_role("link", name=f"architect:{execution}:p1").get_attribute("href") == f"/architect/executions/{execution}/"
    assert references.get_by_role("link", name=f"forge:{build}:plan").get_attribute("href") == f"/forge/builds/{build}/"
    assert references.get_by_role("link", name=f"agent-task:{task}").get_attribute("href") == f"/agents/tasks/{task}/"
    assert references.filter(has_text="something else").locator("a").count() == 0
    browser_page.check_page("billing-unconfigured")
    browser_page.assert_fits_phone()
