"""Webhook scenarios: what Stripe would send for many users, and the state Nexus must end in.

Used by the webhook tests and by `bench/bench_billing.py`. Each user gets a random story
(credit packages bought and sometimes refunded, or a subscription that is upgraded, renewed and
sometimes cancelled); `expected` is computed from the story alone, so it holds for any delivery
order and any number of duplicates.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from tests.fakes.stripe_server import FakeStripe

PACKAGES = {"starter": (1_000, 1_000), "pro": (5_000, 4_000), "enterprise": (25_000, 15_000)}  # credits, cents
TIERS = {"free": 200, "pro": 3_000, "enterprise": 20_000}
TIER_CENTS = {"pro": 2_000, "enterprise": 10_000}
NOISE = ("customer.created", "payment_intent.created", "invoice.finalized", "charge.succeeded", "product.updated")


@dataclass
class Expected:
    """The state one user's account must end in."""

    tier: str = "free"
    allowance: Decimal = Decimal(TIERS["free"])
    purchased: Decimal = Decimal(0)

    @property
    def balance(self) -> Decimal:
        """allowance + purchased (nothing is spent in these scenarios)."""
        return self.allowance + self.purchased


@dataclass
class Scenario:
    """Unique events in causal order, and the expected end state per user id."""

    events: list[dict[str, Any]] = field(default_factory=list)
    expected: dict[str, Expected] = field(default_factory=dict)

    def deliveries(self, *, duplicate_share: float, rng: random.Random) -> list[dict[str, Any]]:
        """Every event once plus re-deliveries of random ones (`duplicate_share` of all deliveries), shuffled."""
        unique = list(self.events)
        dupes = round(len(unique) * duplicate_share / (1 - duplicate_share))
        deliveries = unique + [rng.choice(unique) for _ in range(dupes)]
        rng.shuffle(deliveries)
        return deliveries


def _session(fake: FakeStripe, *, user_id: str, customer: str | None, mode: str, package: str | None = None,
             tier: str | None = None) -> str:
    """A Checkout Session as Nexus creates it (the same metadata), made directly on the fake."""
    metadata = {"user_id": user_id, **({"package_id": package} if package else {"tier": tier or ""})}
    if mode == "payment":
        credits, cents = PACKAGES[package or "starter"]
        item = {"quantity": "1", "price_data": {"currency": "usd", "unit_amount": str(cents), "product_data": {"name": package}}}
        extra = {"payment_intent_data": {"metadata": metadata}}
    else:
        item = {"quantity": "1", "price_data": {"currency": "usd", "unit_amount": str(TIER_CENTS[tier or "pro"]),
                                                "recurring": {"interval": "month"}, "product_data": {"name": tier}}}
        extra = {"subscription_data": {"metadata": metadata}}
    params = {"mode": mode, "client_reference_id": user_id, "metadata": metadata, "line_items": [item],
              "success_url": "http://127.0.0.1/billing/?checkout=success", **extra}
    if customer:
        params["customer"] = customer
    return fake.session_create(params)["id"]


def build(fake: FakeStripe, users: list[tuple[str, str | None]], *, rng: random.Random, unknown_share: float = 0.05) -> Scenario:
    """A story per user: (user id, Stripe customer id or None when Nexus has not created one)."""
    scenario = Scenario()
    for index, (user_id, customer) in enumerate(users):
        expected = Expected()
        scenario.expected[user_id] = expected
        if index % 2 == 0:
            for _ in range(rng.randint(1, 3)):
                package = rng.choice(list(PACKAGES))
                credits, cents = PACKAGES[package]
                session_id = _session(fake, user_id=user_id, customer=customer, mode="payment", package=package)
                scenario.events += fake.complete_checkout(session_id)
                expected.purchased += credits
                payment_intent = fake.sessions[session_id]["payment_intent"]
                roll = rng.random()
                if roll < 0.25:  # refunded in full
                    scenario.events.append(fake.refund(payment_intent))
                    expected.purchased -= credits
                elif roll < 0.5:  # two partial refunds: a quarter, then another quarter (cumulative on the charge)
                    scenario.events.append(fake.refund(payment_intent, cents // 4))
                    scenario.events.append(fake.refund(payment_intent, cents // 4))
                    share = Decimal(2 * (cents // 4)) / Decimal(cents)
                    expected.purchased -= (Decimal(credits) * share).quantize(Decimal("0.000001"), rounding=ROUND_DOWN)
        else:
            tier = rng.choice(["pro", "enterprise"])
            session_id = _session(fake, user_id=user_id, customer=customer, mode="subscription", tier=tier)
            scenario.events += fake.complete_checkout(session_id)
            subscription = fake.sessions[session_id]["subscription"]
            expected.tier, expected.allowance = tier, Decimal(TIERS[tier])
            if rng.random() < 0.5:
                tier = "enterprise" if tier == "pro" else "pro"
                scenario.events.append(fake.subscription_update(subscription, tier=tier))
                expected.tier = tier  # the allowance follows at the next paid invoice
            if rng.random() < 0.6:
                scenario.events.append(fake.subscription_renew(subscription))
                expected.allowance = Decimal(TIERS[tier])
            if rng.random() < 0.3:
                scenario.events.append(fake.subscription_cancel(subscription))
                expected.tier = "free"  # the allowance already paid for is kept until the monthly reset
        if rng.random() < unknown_share * 4:
            kind = rng.choice(NOISE)
            scenario.events.append(fake.event(kind, {"id": f"obj_{index}", "object": kind.split(".")[0], "customer": customer}))
    return scenario
