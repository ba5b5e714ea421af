"""The billing HTTP API: balance, transactions, usage, plans, checkout, portal, invoices, cron, scopes."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.billing import services
from apps.billing.models import CreditAccount, CreditTransaction
from tests.billing.conftest import CRON_SECRET, post_event
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def key_client(user, scopes: list[str]) -> APIClient:  # type: ignore[no-untyped-def]
    _key, raw = account_services.api_key_create(user=user, name="billing test", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


class TestReads:
    def test_balance_of_a_new_user(self, auth_client):
        body = auth_client.get("/api/v1/billing/balance").json()
        assert body["balance"] == 200 and body["total_earned"] == 200 and body["total_spent"] == 0
        assert body["total_purchased"] == 0 and body["tier"] == "free" and body["subscription"] is None

    def test_transactions_are_paginated_filtered_and_only_the_callers(self, auth_client, user, other_user):
        services.credit_charge(account_or_user=user, amount=5, type="usage", idempotency_key="u1", model_name="m1")
        services.credit_grant(account_or_user=user, amount=7, idempotency_key="g1")
        services.credit_charge(account_or_user=other_user, amount=9, idempotency_key="theirs")
        body = auth_client.get("/api/v1/billing/transactions?limit=2").json()
        assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
        assert [r["type"] for r in body["results"]] == ["earned", "usage"]
        usage = auth_client.get("/api/v1/billing/transactions?type=usage").json()
        assert usage["count"] == 1 and usage["results"][0]["amount"] == -5 and usage["results"][0]["model_name"] == "m1"
        bad = auth_client.get("/api/v1/billing/transactions?type=bogus")
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"
        assert auth_client.get("/api/v1/billing/transactions?limit=-1").status_code == 400

    def test_usage_is_a_zero_filled_daily_series_by_model(self, auth_client, user):
        services.credit_charge(account_or_user=user, amount=3, type="usage", idempotency_key="a", model_name="gpt-x")
        services.credit_charge(account_or_user=user, amount=2, type="usage", idempotency_key="b", model_name="claude-y")
        for period, days in (("7d", 7), ("30d", 30), ("90d", 90)):
            body = auth_client.get(f"/api/v1/billing/usage?period={period}").json()
            assert body["period"] == period and len(body["daily"]) == days
            assert body["total_spent"] == 5 and body["total_earned"] == 200
        today = body["daily"][-1]
        assert today["date"] == datetime.now(UTC).date().isoformat()
        assert today["spent"] == 5 and today["by_model"] == {"gpt-x": 3, "claude-y": 2}
        assert auth_client.get("/api/v1/billing/usage").json()["period"] == "30d"
        assert auth_client.get("/api/v1/billing/usage?period=1y").status_code == 400

    def test_plans_list_tiers_and_packages(self, auth_client):
        body = auth_client.get("/api/v1/billing/plans").json()
        assert [(t["id"], t["monthly_credits"]) for t in body["tiers"]] == [("free", 200), ("pro", 3000), ("enterprise", 20000)]
        assert [(p["id"], p["credits"], p["price_cents"]) for p in body["packages"]] == [
            ("starter", 1000, 1000), ("pro", 5000, 4000), ("enterprise", 25000, 15000)]
        assert body["packages"][0]["currency"] == "usd"

    def test_everything_needs_authentication(self, api_client):
        for method, url in (("get", "/api/v1/billing/balance"), ("get", "/api/v1/billing/transactions"), ("get", "/api/v1/billing/usage"),
                            ("get", "/api/v1/billing/plans"), ("post", "/api/v1/billing/checkout"), ("post", "/api/v1/billing/portal"),
                            ("get", "/api/v1/billing/invoices")):
            response = getattr(api_client, method)(url)
            assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED"

    def test_key_scopes(self, user, fake_stripe):
        reader = key_client(user, ["billing:read"])
        assert reader.get("/api/v1/billing/balance").status_code == 200
        assert reader.post("/api/v1/billing/checkout", {"package_id": "starter"}, format="json").status_code == 403
        writer = key_client(user, ["billing"])
        assert writer.get("/api/v1/billing/balance").status_code == 200
        assert writer.post("/api/v1/billing/checkout", {"package_id": "starter"}, format="json").status_code == 200
        chat_only = key_client(user, ["chat"])
        assert chat_only.get("/api/v1/billing/balance").status_code == 403


class TestCheckout:
    def test_package_checkout_goes_through_the_real_sdk_with_server_side_ids(self, auth_client, user, fake_stripe):
        response = auth_client.post("/api/v1/billing/checkout", {"package_id": "pro"}, format="json")
        assert response.status_code == 200, response.json()
        url = response.json()["url"]
        assert url.startswith(fake_stripe.url + "/checkout/cs_test_")
        session = fake_stripe.sessions[url.rsplit("/", 1)[1]]
        assert session["mode"] == "payment" and session["client_reference_id"] == str(user.pk)
        assert session["metadata"] == {"user_id": str(user.pk), "package_id": "pro"} and session["amount_total"] == 4000
        assert session["_payment_intent_data"]["metadata"] == session["metadata"]
        account = CreditAccount.objects.get(user=user)
        assert session["customer"] == account.stripe_customer_id and account.stripe_customer_id in fake_stripe.customers
        # A second checkout reuses the customer.
        auth_client.post("/api/v1/billing/checkout", {"package_id": "starter"}, format="json")
        assert len([r for r in fake_stripe.requests if r["path"] == "/v1/customers"]) == 1

    def test_subscription_checkout(self, auth_client, user, fake_stripe):
        response = auth_client.post("/api/v1/billing/checkout", {"price_id": "pro", "mode": "subscription"}, format="json")
        assert response.status_code == 200, response.json()
        session = fake_stripe.sessions[response.json()["url"].rsplit("/", 1)[1]]
        assert session["mode"] == "subscription" and session["metadata"] == {"user_id": str(user.pk), "tier": "pro"}
        assert session["_subscription_data"]["metadata"] == session["metadata"]

    def test_unknown_package_and_price_are_404(self, auth_client, fake_stripe):
        for body in ({"package_id": "gold"}, {"price_id": "price_from_the_client", "mode": "subscription"}):
            response = auth_client.post("/api/v1/billing/checkout", body, format="json")
            assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
        assert not [r for r in fake_stripe.requests if r["path"] == "/v1/checkout/sessions"]

    def test_bad_checkout_bodies_are_400(self, auth_client, fake_stripe):
        for body in ({}, {"price_id": "pro", "mode": "weekly"}, {"price_id": "free", "mode": "subscription"},
                     {"price_id": "pro", "mode": "one-time"}):
            response = auth_client.post("/api/v1/billing/checkout", body, format="json")
            assert response.status_code == 400, (body, response.json())

    def test_a_client_cannot_choose_the_customer(self, auth_client, user, other_user, fake_stripe):
        theirs = auth_client.post("/api/v1/billing/checkout", {"package_id": "starter", "customer": "cus_someone_else"}, format="json")
        assert theirs.status_code == 200
        session = fake_stripe.sessions[theirs.json()["url"].rsplit("/", 1)[1]]
        assert session["customer"] == CreditAccount.objects.get(user=user).stripe_customer_id

    def test_a_subscriber_is_sent_to_the_portal_instead(self, auth_client, user, fake_stripe):
        services.credit_account_for(user=user)
        CreditAccount.objects.filter(user=user).update(subscription_id="sub_1", subscription_status="active")
        response = auth_client.post("/api/v1/billing/checkout", {"price_id": "enterprise", "mode": "subscription"}, format="json")
        assert response.status_code == 409

    def test_stripe_down_is_503_and_unconfigured_is_503(self, auth_client, fake_stripe, settings):
        settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
        assert auth_client.post("/api/v1/billing/checkout", {"package_id": "starter"}, format="json").status_code == 503
        settings.STRIPE_SECRET_KEY = ""
        response = auth_client.post("/api/v1/billing/portal")
        assert response.status_code == 503 and response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"

    def test_a_wrong_stripe_key_is_503_not_a_leak(self, auth_client, fake_stripe, settings):
        settings.STRIPE_SECRET_KEY = "sk_test_wrong"
        response = auth_client.post("/api/v1/billing/checkout", {"package_id": "starter"}, format="json")
        assert response.status_code == 503 and "sk_test" not in response.content.decode()


class TestPortalAndInvoices:
    def test_portal_for_the_callers_customer(self, auth_client, user, fake_stripe):
        response = auth_client.post("/api/v1/billing/portal")
        assert response.status_code == 200
        portal = fake_stripe.portal_sessions[response.json()["url"].rsplit("/", 1)[1]]
        assert portal["customer"] == CreditAccount.objects.get(user=user).stripe_customer_id
        assert portal["return_url"] == "http://testserver/billing/"

    def test_invoices_after_a_subscription(self, auth_client, user, fake_stripe):
        assert auth_client.get("/api/v1/billing/invoices").json() == {"count": 0, "next": None, "previous": None, "results": []}
        url = auth_client.post("/api/v1/billing/checkout", {"price_id": "pro", "mode": "subscription"}, format="json").json()["url"]
        events = fake_stripe.complete_checkout(url.rsplit("/", 1)[1])
        sub_id = events[0]["data"]["object"]["id"]
        fake_stripe.subscription_renew(sub_id)
        body = auth_client.get("/api/v1/billing/invoices").json()
        assert body["count"] == 2
        first = body["results"][0]
        assert first["amount"] == 2000 and first["currency"] == "usd" and first["status"] == "paid" and first["invoice_url"]
        assert first["date"].endswith("Z")


class TestCron:
    def test_wrong_or_missing_cron_secret_is_401(self, api_client, fake_stripe):
        for header in (None, "Bearer nope", f"Basic {CRON_SECRET}", f"Bearer {CRON_SECRET}x"):
            kwargs = {"HTTP_AUTHORIZATION": header} if header else {}
            response = api_client.post("/api/v1/cron/reset-credits", **kwargs)
            assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED"

    def test_an_unset_cron_secret_never_matches(self, api_client, settings):
        settings.CRON_SECRET = ""
        assert api_client.post("/api/v1/cron/reset-credits", HTTP_AUTHORIZATION="Bearer ").status_code == 401

    def test_reset_via_cron_twice_in_a_period_resets_once(self, api_client, fake_stripe, user):
        # An account opened last month, with 80 of its allowance left.
        last_month = datetime.now(UTC).replace(day=1) - timedelta(days=20)
        CreditAccount.objects.create(user=user, allowance=80, period=last_month.strftime("%Y-%m"), period_started_at=last_month)
        first = api_client.post("/api/v1/cron/reset-credits", HTTP_AUTHORIZATION=f"Bearer {CRON_SECRET}")
        second = api_client.post("/api/v1/cron/reset-credits", HTTP_AUTHORIZATION=f"Bearer {CRON_SECRET}")
        assert first.json() == {"message": "Credit reset completed", "reset_count": 1} and second.json()["reset_count"] == 0
        assert CreditAccount.objects.get(user=user).balance == Decimal(200)
        assert CreditTransaction.objects.filter(account__user=user, type="reset").get().amount == Decimal(120)

    def test_the_beat_task_is_scheduled_and_runs_the_same_reset(self, settings, user):
        from apps.billing.tasks import credits_reset_monthly
        from config.celery_app import app

        app.finalize()  # beat's schedule is what the installed apps declare (apps.core.registry)
        entry = app.conf.beat_schedule["billing-reset-monthly-credits"]
        assert entry["task"] == "apps.billing.tasks.credits_reset_monthly"
        CreditAccount.objects.create(user=user, period="2000-01", period_started_at=datetime(2000, 1, 1, tzinfo=UTC))
        assert credits_reset_monthly.delay().get() == 1
        assert credits_reset_monthly.delay().get() == 0


class TestWebhookSignature:
    def _event(self, fake_stripe):  # type: ignore[no-untyped-def]
        return fake_stripe.event("customer.created", {"id": "cus_x", "object": "customer"})

    def test_missing_bad_and_stale_signatures_are_400(self, api_client, fake_stripe):
        event = self._event(fake_stripe)
        body, _header = fake_stripe.signed(event)
        missing = api_client.post("/api/v1/billing/webhook", data=body, content_type="application/json")
        assert missing.status_code == 400 and missing.json()["error"]["code"] == "VALIDATION_ERROR"
        assert post_event(api_client, fake_stripe, event, secret="whsec_wrong").status_code == 400
        stale = int(datetime.now(UTC).timestamp()) - 301
        assert post_event(api_client, fake_stripe, event, timestamp=stale).status_code == 400
        future = int(datetime.now(UTC).timestamp()) + 3600
        assert post_event(api_client, fake_stripe, event, timestamp=future).status_code == 400
        garbage = api_client.post("/api/v1/billing/webhook", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE="t=abc,v1=zz")
        assert garbage.status_code == 400
        from apps.billing.models import StripeEvent

        assert not StripeEvent.objects.exists()
        ok = post_event(api_client, fake_stripe, event, timestamp=int(datetime.now(UTC).timestamp()) - 290)
        assert ok.status_code == 200

    def test_a_tampered_body_is_400(self, api_client, fake_stripe):
        body, header = fake_stripe.signed(self._event(fake_stripe))
        tampered = body.replace(b"cus_x", b"cus_y")
        response = api_client.post("/api/v1/billing/webhook", data=tampered, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
        assert response.status_code == 400

    def test_unknown_event_types_are_200_and_do_nothing(self, api_client, fake_stripe, user):
        before = CreditTransaction.objects.count()
        response = post_event(api_client, fake_stripe, fake_stripe.event("payout.paid", {"id": "po_1", "object": "payout"}))
        assert response.status_code == 200 and response.json() == {"received": True, "duplicate": False}
        assert CreditTransaction.objects.count() == before


def test_another_users_balance_is_never_visible(api_client):
    one, two = UserFactory(), UserFactory()
    services.credit_grant(account_or_user=two, amount=999, idempotency_key="rich")
    client = APIClient()
    client.force_authenticate(user=one)
    assert client.get("/api/v1/billing/balance").json()["balance"] == 200
