"""Stripe webhooks: each event applied exactly once, in any order, under duplicates; out-of-order states never downgrade."""
from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from rest_framework.test import APIClient

from apps.billing.models import CreditAccount, CreditTransaction, StripeEvent, StripePayment
from tests.billing import scenarios
from tests.billing.conftest import STRIPE_KEY, WEBHOOK_SECRET, post_event
from tests.conftest import start_daphne, stop_process
from tests.factories import UserFactory

D = Decimal


def checkout(client: APIClient, body: dict[str, Any]) -> str:
    """Start a checkout through the API; returns the session id on the fake."""
    response = client.post("/api/v1/billing/checkout", body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["url"].rsplit("/", 1)[1]


def account(user: Any) -> CreditAccount:
    return CreditAccount.objects.get(user=user)


@pytest.mark.django_db
class TestPackages:
    def test_a_paid_package_is_credited_once(self, auth_client, api_client, user, fake_stripe):
        [event] = fake_stripe.complete_checkout(checkout(auth_client, {"package_id": "pro"}))
        first = post_event(api_client, fake_stripe, event)
        assert first.status_code == 200 and first.json() == {"received": True, "duplicate": False}
        replay = post_event(api_client, fake_stripe, event)
        assert replay.status_code == 200 and replay.json()["duplicate"] is True
        body = auth_client.get("/api/v1/billing/balance").json()
        assert body["balance"] == 5200 and body["total_purchased"] == 5000 and body["purchased"] == 5000
        topup = CreditTransaction.objects.get(account__user=user, type="topup")
        assert topup.amount == D(5000) and topup.reference == "package pro"
        assert StripeEvent.objects.get(pk=event["id"]).outcome.startswith("credited 5000")

    def test_the_package_comes_from_the_server_not_the_amount_in_the_event(self, auth_client, api_client, user, fake_stripe):
        [event] = fake_stripe.complete_checkout(checkout(auth_client, {"package_id": "starter"}))
        event["data"]["object"]["amount_total"] = 1  # whatever the event says, the package's credits apply
        post_event(api_client, fake_stripe, event)
        assert account(user).purchased == D(1000)

    def test_an_unpaid_session_credits_nothing_until_payment_succeeds(self, auth_client, api_client, user, fake_stripe):
        [event] = fake_stripe.complete_checkout(checkout(auth_client, {"package_id": "starter"}))
        event["data"]["object"]["payment_status"] = "unpaid"
        post_event(api_client, fake_stripe, event)
        assert account(user).purchased == 0
        succeeded = fake_stripe.event("checkout.session.async_payment_succeeded", {**event["data"]["object"], "payment_status": "paid"})
        post_event(api_client, fake_stripe, succeeded)
        assert account(user).purchased == D(1000)

    def test_full_and_partial_refunds_are_taken_back_once(self, auth_client, api_client, user, fake_stripe):
        session = checkout(auth_client, {"package_id": "pro"})  # 5000 credits for 4000 cents
        [paid] = fake_stripe.complete_checkout(session)
        post_event(api_client, fake_stripe, paid)
        payment_intent = fake_stripe.sessions[session]["payment_intent"]
        quarter = fake_stripe.refund(payment_intent, 1000)
        post_event(api_client, fake_stripe, quarter)
        post_event(api_client, fake_stripe, quarter)
        assert account(user).purchased == D(3750)
        rest = fake_stripe.refund(payment_intent)  # the remaining 3000 cents
        post_event(api_client, fake_stripe, rest)
        post_event(api_client, fake_stripe, quarter)  # an old partial refund arriving late changes nothing
        a = account(user)
        assert a.purchased == 0 and a.total_purchased == 0 and a.balance == D(200)
        assert list(CreditTransaction.objects.filter(account=a, type="refund").order_by("created_at").values_list("amount", flat=True)) == [
            D(-1250), D(-3750)]

    def test_a_refund_before_its_checkout_event_is_applied_when_the_checkout_lands(self, auth_client, api_client, user, fake_stripe):
        session = checkout(auth_client, {"package_id": "starter"})
        [paid] = fake_stripe.complete_checkout(session)
        refund = fake_stripe.refund(fake_stripe.sessions[session]["payment_intent"], 500)  # half of $10
        assert post_event(api_client, fake_stripe, refund).status_code == 200
        assert account(user).purchased == 0 and StripePayment.objects.get().completed is False
        post_event(api_client, fake_stripe, paid)
        assert account(user).purchased == D(500)

    def test_refunded_credits_already_spent_cannot_push_the_balance_below_zero(self, auth_client, api_client, user, fake_stripe):
        from apps.billing import services

        session = checkout(auth_client, {"package_id": "starter"})
        post_event(api_client, fake_stripe, fake_stripe.complete_checkout(session)[0])
        services.credit_charge(account_or_user=user, amount=1100, idempotency_key="spent-it")  # 200 allowance + 900 purchased
        post_event(api_client, fake_stripe, fake_stripe.refund(fake_stripe.sessions[session]["payment_intent"]))
        a = account(user)
        assert a.balance == 0 and a.purchased == 0
        row = CreditTransaction.objects.get(account=a, type="refund")
        assert row.amount == D(-100) and row.metadata["shortfall"] == "900.000000"

    def test_metadata_naming_another_user_than_the_reference_is_ignored(self, auth_client, api_client, user, other_user, fake_stripe):
        [event] = fake_stripe.complete_checkout(checkout(auth_client, {"package_id": "starter"}))
        event["data"]["object"]["metadata"]["user_id"] = str(other_user.pk)
        post_event(api_client, fake_stripe, event)
        assert not CreditTransaction.objects.filter(type="topup").exists()

    def test_a_refund_of_a_subscription_charge_moves_no_credits(self, api_client, fake_stripe, user):
        charge = {"id": "ch_sub", "object": "charge", "payment_intent": "pi_sub", "amount": 2000, "amount_refunded": 2000, "metadata": {}}
        response = post_event(api_client, fake_stripe, fake_stripe.event("charge.refunded", charge))
        assert response.status_code == 200 and not CreditTransaction.objects.filter(type="refund").exists()


@pytest.mark.django_db
class TestSubscriptions:
    def _subscribe(self, auth_client, api_client, fake_stripe, tier="pro"):  # type: ignore[no-untyped-def]
        events = fake_stripe.complete_checkout(checkout(auth_client, {"price_id": tier, "mode": "subscription"}))
        return events, events[0]["data"]["object"]["id"]

    def test_a_subscription_sets_the_tier_and_its_invoice_the_allowance(self, auth_client, api_client, user, fake_stripe):
        events, sub = self._subscribe(auth_client, api_client, fake_stripe)
        for event in events:
            assert post_event(api_client, fake_stripe, event).status_code == 200
        user.refresh_from_db()
        a = account(user)
        assert user.tier_id == "pro" and a.subscription_id == sub and a.subscription_status == "active"
        assert a.allowance == D(3000) and a.balance == D(3000)
        body = auth_client.get("/api/v1/billing/balance").json()
        assert body["tier"] == "pro" and body["subscription"]["status"] == "active"

    def test_out_of_order_updates_never_downgrade_a_newer_state(self, auth_client, api_client, user, fake_stripe):
        events, sub = self._subscribe(auth_client, api_client, fake_stripe)
        upgrade = fake_stripe.subscription_update(sub, tier="enterprise")
        renewal = fake_stripe.subscription_renew(sub)
        for event in [upgrade, renewal, *reversed(events)]:  # newest first, then the older ones
            post_event(api_client, fake_stripe, event)
        user.refresh_from_db()
        assert user.tier_id == "enterprise" and account(user).allowance == D(20000)

    def test_a_cancellation_is_final_whatever_arrives_after_it(self, auth_client, api_client, user, fake_stripe):
        events, sub = self._subscribe(auth_client, api_client, fake_stripe)
        upgrade = fake_stripe.subscription_update(sub, tier="enterprise")
        cancel = fake_stripe.subscription_cancel(sub)
        for event in [*events, cancel, upgrade]:
            post_event(api_client, fake_stripe, event)
        user.refresh_from_db()
        a = account(user)
        assert user.tier_id == "free" and a.subscription_status == "canceled"
        assert StripeEvent.objects.get(pk=upgrade["id"]).outcome.startswith("ignored: older")

    def test_the_cancellation_of_an_old_subscription_does_not_end_the_new_one(self, auth_client, api_client, user, fake_stripe):
        old_events, old_sub = self._subscribe(auth_client, api_client, fake_stripe, tier="pro")
        for event in old_events:
            post_event(api_client, fake_stripe, event)
        CreditAccount.objects.filter(user=user).update(subscription_status="canceled")  # ended; the user subscribes again
        new_events, _new_sub = self._subscribe(auth_client, api_client, fake_stripe, tier="enterprise")
        for event in new_events:
            post_event(api_client, fake_stripe, event)
        post_event(api_client, fake_stripe, fake_stripe.subscription_cancel(old_sub))  # newer `created`, but another subscription
        user.refresh_from_db()
        assert user.tier_id == "enterprise"

    def test_a_renewal_resets_the_allowance_once_per_invoice(self, auth_client, api_client, user, fake_stripe):
        from apps.billing import services

        events, sub = self._subscribe(auth_client, api_client, fake_stripe)
        for event in events:
            post_event(api_client, fake_stripe, event)
        services.credit_charge(account_or_user=user, amount=1000, idempotency_key="work")
        renewal = fake_stripe.subscription_renew(sub)
        for _ in range(3):
            post_event(api_client, fake_stripe, renewal)
        post_event(api_client, fake_stripe, events[2])  # the first invoice again: older period, ignored
        assert account(user).allowance == D(3000)
        assert CreditTransaction.objects.filter(account__user=user, type="reset").count() == 3  # opening, first invoice, renewal


@pytest.mark.django_db
def test_200_events_with_30_percent_duplicates_shuffled_each_applied_once(api_client, fake_stripe):
    rng = random.Random(20240509)
    users = [UserFactory() for _ in range(32)]
    for index, someone in enumerate(users):
        # Half the users went through Nexus's checkout (Nexus made their customer); half are known only by metadata.
        if index % 4 < 2:
            from apps.billing.payments import customer_ensure

            customer_ensure(user=someone)
    customers = dict(CreditAccount.objects.filter(user__in=users).values_list("user_id", "stripe_customer_id"))
    scenario = scenarios.build(fake_stripe, [(str(u.pk), customers.get(u.pk) or None) for u in users], rng=rng)
    deliveries = scenario.deliveries(duplicate_share=0.3, rng=rng)
    unique = {event["id"] for event in deliveries}
    assert len(deliveries) >= 200 and len(unique) == len(scenario.events)
    assert abs((len(deliveries) - len(unique)) / len(deliveries) - 0.3) < 0.01
    for event in deliveries:
        assert post_event(api_client, fake_stripe, event).status_code == 200
    assert StripeEvent.objects.count() == len(unique)
    for someone in users:
        expected = scenario.expected[str(someone.pk)]
        someone.refresh_from_db()
        a = account(someone)
        assert (someone.tier_id, a.allowance, a.purchased) == (expected.tier, expected.allowance, expected.purchased), someone.pk
    # Each top-up, refund and renewal exactly once.
    keys = list(CreditTransaction.objects.values_list("idempotency_key", flat=True))
    assert len(keys) == len(set(keys))


@pytest.mark.live
def test_concurrent_duplicate_deliveries_to_a_live_server_apply_once(transactional_db, tmp_path: Path, fake_stripe_server):
    """Stripe retries can race: the same events posted 4 times at once to daphne change balances once."""
    from apps.accounts.seeds import seed as seed_accounts
    from apps.billing.seeds import seed as seed_billing

    seed_accounts()
    seed_billing()
    users = [UserFactory() for _ in range(6)]
    scenario = scenarios.build(fake_stripe_server, [(str(u.pk), None) for u in users], rng=random.Random(7), unknown_share=0)
    server = start_daphne(tmp_path, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_SECRET_KEY=STRIPE_KEY)
    try:
        deliveries = [event for event in scenario.events for _ in range(4)]
        random.Random(8).shuffle(deliveries)

        def send(event: dict[str, Any]) -> int:
            body, header = fake_stripe_server.signed(event, secret=WEBHOOK_SECRET)
            return httpx.post(server.url + "/api/v1/billing/webhook", content=body, timeout=30,
                              headers={"Stripe-Signature": header, "Content-Type": "application/json"}).status_code

        with ThreadPoolExecutor(max_workers=12) as pool:
            statuses = list(pool.map(send, deliveries))
        assert set(statuses) == {200}, server.log()
    finally:
        stop_process(server.process)
    assert StripeEvent.objects.count() == len(scenario.events)
    for someone in users:
        expected = scenario.expected[str(someone.pk)]
        someone.refresh_from_db()
        a = account(someone)
        assert (someone.tier_id, a.allowance, a.purchased) == (expected.tier, expected.allowance, expected.purchased)
