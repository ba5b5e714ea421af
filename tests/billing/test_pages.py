"""The billing dashboard page and the Django admin of the billing app, through Django's test client."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from apps.billing import services
from apps.billing.models import CreditAccount, CreditTransaction
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def page_client(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_the_page_needs_a_login():
    response = Client().get("/billing/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_page_shows_balance_chart_by_model_and_transactions(page_client, user):
    services.credit_charge(account_or_user=user, amount=3, type="usage", idempotency_key="a", model_name="gpt-x")
    services.credit_charge(account_or_user=user, amount=1, type="usage", idempotency_key="b", model_name="claude-y")
    page = page_client.get("/billing/").content.decode()
    assert 'data-testid="balance">196<' in page
    assert page.count("<rect ") == 2 and "gpt-x" in page and "claude-y" in page
    assert 'data-testid="buy-starter"' in page and "Buy for $10" in page and "Subscribe $20/mo" in page
    assert 'href="/billing/"' in page  # the nav entry
    assert "out-of-credits" not in page


def test_an_empty_balance_shows_the_out_of_credits_state(page_client, user):
    services.credit_charge(account_or_user=user, amount=200, idempotency_key="all")
    assert 'data-testid="out-of-credits"' in page_client.get("/billing/").content.decode()


def test_buy_credits_redirects_to_stripe_checkout(page_client, user, fake_stripe):
    response = page_client.post("/billing/checkout/", {"package_id": "starter"})
    assert response.status_code == 302 and response["Location"].startswith(fake_stripe.url + "/checkout/")
    portal = page_client.post("/billing/portal/")
    assert portal.status_code == 302 and portal["Location"].startswith(fake_stripe.url + "/portal/")


def test_a_failed_checkout_comes_back_with_the_message(page_client, settings):
    settings.STRIPE_SECRET_KEY = ""
    response = page_client.post("/billing/checkout/", {"package_id": "starter"}, follow=True)
    assert b"Payments are not configured" in response.content


def test_admin_lists_accounts_and_grants_credits_through_the_ledger():
    from tests.factories import AdminUserFactory

    admin_user = AdminUserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin_user)
    someone = UserFactory()
    account = services.credit_account_for(user=someone)
    assert someone.email in client.get("/admin/billing/creditaccount/").content.decode()
    ask = client.post("/admin/billing/creditaccount/", {"action": "grant_credits", "_selected_action": [str(account.pk)]})
    assert ask.status_code == 200 and b"Grant credits" in ask.content
    done = client.post("/admin/billing/creditaccount/", {"action": "grant_credits", "_selected_action": [str(account.pk)],
                                                         "apply": "1", "amount": "150", "reason": "goodwill"})
    assert done.status_code == 302
    account.refresh_from_db()
    assert account.balance == Decimal(350)
    row = CreditTransaction.objects.get(account=account, type="earned")
    assert row.amount == Decimal(150) and "goodwill" in row.reference
    # The ledger and the Stripe events are read-only.
    assert client.get(f"/admin/billing/credittransaction/{row.pk}/change/").status_code == 200
    assert client.post(f"/admin/billing/credittransaction/{row.pk}/delete/").status_code == 403
    assert client.get("/admin/billing/credittransaction/add/").status_code == 403
    assert client.get("/admin/billing/stripeevent/").status_code == 200
    assert CreditAccount.objects.count() >= 1
