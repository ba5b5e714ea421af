"""The key form offers only the scopes a user may grant: those of tools the roles hold, and scopes of no tool."""
from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.accounts.models import ApiKey, Role, UserRole
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _offered(page: str) -> list[str]:
    return re.findall(r'name="scopes" value="([^"]+)"', page)


def test_a_chat_only_user_is_offered_chat_and_billing_scopes_but_no_scope_of_a_tool_they_lack() -> None:
    user = UserFactory()
    UserRole.objects.filter(user=user).delete()
    role = Role(name="chatter", tools=["chat", "compare"])
    role.full_clean()
    role.save()
    UserRole.objects.create(user=user, role=role)
    client = Client()
    client.force_login(user)

    page = client.get("/account/keys/").content.decode()
    offered = _offered(page)
    assert offered[0] == "*" and "chat" in offered and "billing" in offered and "billing:read" in offered
    for lacking in ("knowledge", "architect", "forge", "agents", "workflows", "admin"):
        assert lacking not in offered
    assert "every feature you hold" in page  # what "*" means, next to it

    # a hand-made form post of a scope that is not offered is refused, not stored
    response = client.post("/account/keys/", {"name": "sneaky", "scopes": ["forge"]})
    assert response.status_code == 200 and "forge" in response.content.decode()
    assert not ApiKey.objects.filter(user=user, name="sneaky").exists()


def test_admin_is_offered_only_to_holders_of_the_admin_tool() -> None:
    from apps.core.registry import scope_names

    client = Client()
    client.force_login(UserFactory())
    assert _offered(client.get("/account/keys/").content.decode()) == ["*", *(s for s in scope_names() if s != "admin")]
    client.force_login(UserFactory(is_superuser=True, is_staff=True))  # a superuser holds every tool
    assert _offered(client.get("/account/keys/").content.decode()) == ["*", *scope_names()]
