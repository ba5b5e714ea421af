"""Stripe webhook replay: 1 000 signed deliveries, 30 % of them duplicates, shuffled, against one daphne process.

The events are what Stripe would send for ~150 users (package top-ups, full and partial refunds,
subscriptions upgraded, renewed and cancelled, and some event types Nexus ignores), built by the
same fake Stripe the tests use, signed with the real `Stripe-Signature` scheme, and posted with 16
concurrent connections, so duplicates of one event race each other. Afterwards every account is
compared with the state its story must end in.

Reports events/s, latency percentiles, and any double application (target: zero).
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from decimal import Decimal
from typing import Any

import aiohttp

from bench.harness import BenchContext, percentiles
from tests.billing import scenarios
from tests.fakes.stripe_server import FakeStripe

DELIVERIES = 1_000
DUPLICATE_SHARE = 0.30
CONNECTIONS = 16
USERS = 220
SECRET = "whsec_bench_billing_5e1d"

_SETUP = f"""
from apps.accounts.models import User
from apps.billing.services import credit_account_for
ids = []
for i in range({USERS}):
    user = User.objects.filter(email=f"bench-billing-{{i}}@example.com").first() or User.objects.create_user(
        email=f"bench-billing-{{i}}@example.com", password="bench-pass-123456")
    credit_account_for(user=user)
    ids.append(str(user.pk))
print("IDS=" + ",".join(ids))
"""

_STATE = """
import json
from apps.billing.models import CreditAccount, CreditTransaction, StripeEvent
rows = {str(a.user_id): [a.user.tier_id, str(a.allowance), str(a.purchased)]
        for a in CreditAccount.objects.select_related("user").filter(user__email__startswith="bench-billing-")}
keys = CreditTransaction.objects.filter(account__user__email__startswith="bench-billing-").values_list("idempotency_key", flat=True)
print("STATE=" + json.dumps({"accounts": rows, "events": StripeEvent.objects.count(), "ledger_rows": len(keys),
                             "unique_ledger_keys": len(set(keys))}))
"""


def _scenario(user_ids: list[str], rng: random.Random) -> tuple[scenarios.Scenario, list[dict[str, Any]]]:
    """Stories for as many users as it takes to have ~700 unique events, plus duplicates up to 1 000 deliveries."""
    fake = FakeStripe(webhook_secret=SECRET)
    target_unique = round(DELIVERIES * (1 - DUPLICATE_SHARE))
    scenario = scenarios.Scenario()
    for user_id in user_ids:
        if len(scenario.events) >= target_unique:
            break
        story = scenarios.build(fake, [(user_id, None)], rng=rng)
        scenario.events += story.events
        scenario.expected.update(story.expected)
    unique = scenario.events
    deliveries = unique + [rng.choice(unique) for _ in range(DELIVERIES - len(unique))]
    rng.shuffle(deliveries)
    return scenario, deliveries


async def _replay(url: str, deliveries: list[dict[str, Any]]) -> dict[str, Any]:
    fake = FakeStripe(webhook_secret=SECRET)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for event in deliveries:
        queue.put_nowait(event)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONNECTIONS)) as session:
        async def worker() -> None:
            while not queue.empty():
                event = queue.get_nowait()
                body, header = fake.signed(event)  # signed when sent, as Stripe does per attempt
                started = time.perf_counter()
                async with session.post(url, data=body, headers={"Stripe-Signature": header, "Content-Type": "application/json"}) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - started
    return {"elapsed_s": round(elapsed, 3), "events_per_s": round(len(deliveries) / elapsed, 1), "statuses": statuses,
            "latency": percentiles(latencies)}


def run(ctx: BenchContext) -> dict[str, Any]:
    """Replay the deliveries against one daphne process and check every account."""
    out = ctx.django_shell(_SETUP)
    user_ids = next(line[4:] for line in out.splitlines() if line.startswith("IDS=")).split(",")
    scenario, deliveries = _scenario(user_ids, random.Random(1_000))
    url = ctx.start_daphne(STRIPE_WEBHOOK_SECRET=SECRET) + "/api/v1/billing/webhook"
    load = asyncio.run(_replay(url, deliveries))
    state_out = ctx.django_shell(_STATE)
    state = json.loads(next(line[6:] for line in state_out.splitlines() if line.startswith("STATE=")))
    mismatched, doubled = [], 0
    for user_id, expected in scenario.expected.items():
        tier, allowance, purchased = state["accounts"][user_id]
        if (tier, Decimal(allowance), Decimal(purchased)) != (expected.tier, expected.allowance, expected.purchased):
            mismatched.append({"user": user_id, "got": [tier, allowance, purchased],
                               "expected": [expected.tier, str(expected.allowance), str(expected.purchased)]})
            # A credit applied twice shows up as more purchased credits than the story allows.
            doubled += int(Decimal(purchased) > expected.purchased)
    unique = len({event["id"] for event in deliveries})
    return {
        "deliveries": len(deliveries),
        "unique_events": unique,
        "duplicate_share": round((len(deliveries) - unique) / len(deliveries), 3),
        "users": len(scenario.expected),
        "connections": CONNECTIONS,
        **load,
        "events_recorded": state["events"],
        "double_applications": doubled + (state["events"] - unique if state["events"] > unique else 0)
        + (state["ledger_rows"] - state["unique_ledger_keys"]),
        "mismatched_accounts": len(mismatched),
        "mismatches": mismatched[:5],
        "target": "double_applications == 0 and mismatched_accounts == 0",
    }
