"""Fixtures of the accounts tests: fresh rate-limit counters, keys, JWTs, workspaces."""
from __future__ import annotations

import re
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


INVITATION_LINK = re.compile(r"(https?://\S+/invitations/([^/\s]+)/)")


def invitation_link(mail: Any) -> tuple[str, str]:
    """The link of an invitation mail and its raw token."""
    match = INVITATION_LINK.search(mail.body)
    assert match, mail.body
    return match.group(1), match.group(2)


@pytest.fixture
def invite(mailoutbox: list[Any], django_capture_on_commit_callbacks: Any) -> Any:
    """Invite an address over the API (the mail is sent as on commit); returns (response, raw token or None)."""

    def send(client: APIClient, workspace_id: Any, email: str, role: str | None = None) -> tuple[Any, str | None]:
        before = len(mailoutbox)
        body = {"email": email, **({"role": role} if role else {})}
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/api/v1/workspaces/{workspace_id}/members", body, format="json")
        token = invitation_link(mailoutbox[-1])[1] if len(mailoutbox) > before else None
        return response, token

    return send


@pytest.fixture
def join(invite: Any) -> Any:
    """Invite a user over the API and accept as them: how a person becomes a member now."""

    def accept(client: APIClient, workspace_id: Any, member: User, role: str | None = None) -> Any:
        response, token = invite(client, workspace_id, member.email, role)
        assert response.status_code == 202, response.content
        assert token is not None
        return services.invitation_accept(raw_token=token, user=member)

    return accept
