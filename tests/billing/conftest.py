"""Fixtures of the billing tests: the loopback fake Stripe, Stripe settings, signed webhook posts."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.fakes.stripe_server import FakeStripe

STRIPE_KEY = "sk_test_nexus_billing_3b1f"
WEBHOOK_SECRET = "whsec_nexus_billing_test_9c2e"
CRON_SECRET = "cron-secret-for-tests-41d7"


@pytest.fixture(scope="session")
def fake_stripe_server() -> Iterator[FakeStripe]:
    """One fake Stripe API for the session."""
    server = FakeStripe(api_key=STRIPE_KEY, webhook_secret=WEBHOOK_SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def fake_stripe(fake_stripe_server: FakeStripe, settings: Any) -> FakeStripe:
    """The fake, with Nexus configured to talk to it (the real SDK, its base URL on loopback)."""
    settings.STRIPE_SECRET_KEY = STRIPE_KEY
    settings.STRIPE_API_BASE = fake_stripe_server.url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.CRON_SECRET = CRON_SECRET
    settings.SITE_URL = "http://testserver"
    fake_stripe_server.requests.clear()
    return fake_stripe_server


def post_event(client: APIClient, fake: FakeStripe, event: dict[str, Any], *, secret: str | None = None,
               timestamp: int | None = None) -> Any:
    """POST a signed event to the webhook, as Stripe would."""
    body, header = fake.signed(event, secret=secret, timestamp=timestamp)
    return client.post("/api/v1/billing/webhook", data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
