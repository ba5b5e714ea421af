"""Contract-test fixtures: a user per role with an access token, the loopback fakes, and a case count."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.embeddings_server import embeddings_server
from tests.fakes.stripe_server import FakeStripe

# role -> operation label -> cases sent (reported at the end of the run)
CASES: dict[str, dict[str, int]] = {}


@dataclass
class Caller:
    """Who the generated requests are sent as."""

    role: str
    user: Any
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """The access JWT as a bearer token."""
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(params=["user", "admin"])
def caller(request: pytest.FixtureRequest, fake_models: Any, contract_fakes: None) -> Caller:
    """A committed plain user or admin, with a tier limit high enough that fuzzing is not throttled."""
    from apps.accounts import services
    from apps.accounts.models import Tier
    from tests.factories import AdminUserFactory, UserFactory

    # The contract run sends hundreds of requests a minute; the throttle has its own tests.
    Tier.objects.update(api_rpm=10**6, chat_rpm=10**6)
    user = (AdminUserFactory if request.param == "admin" else UserFactory)()
    token = services.token_pair_issue(user=user)["access_token"]
    return Caller(role=request.param, user=user, token=token)


@pytest.fixture
def contract_fakes(settings: Any, tmp_path: Path) -> Iterator[None]:
    """Stripe and the embeddings endpoint on loopback fakes; uploads in a folder of this test."""
    stripe = FakeStripe(api_key="sk_test_contract", webhook_secret="whsec_contract").start()
    settings.STRIPE_SECRET_KEY = "sk_test_contract"
    settings.STRIPE_API_BASE = stripe.url
    settings.STRIPE_WEBHOOK_SECRET = "whsec_contract"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.CRON_SECRET = "cron-secret-contract"
    settings.MEDIA_ROOT = str(tmp_path / "media")
    with embeddings_server() as embeddings:
        settings.KNOWLEDGE_EMBEDDINGS_BACKEND = "openai"
        settings.KNOWLEDGE_EMBEDDINGS_URL = embeddings.url
        settings.KNOWLEDGE_EMBEDDINGS_MODEL = "nomic-embed-text"
        settings.KNOWLEDGE_EMBEDDINGS_API_KEY = "test-embeddings-key"
        try:
            yield
        finally:
            stripe.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How many operations and cases the contract run covered, per role."""
    for role, operations in sorted(CASES.items()):
        terminalreporter.write_line(
            f"schemathesis as {role}: {len(operations)} operations, {sum(operations.values())} cases"
        )
