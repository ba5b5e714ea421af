"""Fixtures of the accounts tests: fresh rate-limit counters, keys, JWTs, workspaces."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from apps.accounts import services
from apps.accounts.models import User


@pytest.fixture(autouse=True)
def fresh_limits() -> Iterator[None]:
    """Every test starts with empty rate-limit counters and slots (they live in the session's Redis)."""
    client = redis.Redis.from_url(settings.REDIS_URL)

    def wipe() -> None:
        for pattern in ("*rl:*", "nexus:slots:*", "nexus:quota:*"):
            for key in client.scan_iter(pattern, count=1000):
                client.delete(key)

    wipe()
    yield
    wipe()
    client.close()


def key_client(user: User, *, scopes: list[str] | None = None, header: str = "bearer", **kwargs: Any) -> tuple[APIClient, str]:
    """A client authenticated by a new API key of `user` (in `Authorization` or `x-api-key`)."""
    _key, raw = services.api_key_create(user=user, name="test", scopes=scopes or ["*"], **kwargs)
    client = APIClient()
    if header == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    else:
        client.credentials(HTTP_X_API_KEY=raw)
    return client, raw


def jwt_client(user: User) -> tuple[APIClient, dict[str, Any]]:
    """A client authenticated by a fresh JWT access token of `user`."""
    pair = services.token_pair_issue(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}")
    return client, pair


@pytest.fixture
def admin_user(db: Any) -> User:
    """A user holding the `admin` role."""
    from tests.factories import AdminUserFactory

    return AdminUserFactory()
