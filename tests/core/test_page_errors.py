"""Pages answer the platform's client errors with the styled error page and their status, never a server error."""
from __future__ import annotations

import uuid

from django.test import Client

from apps.accounts.models import UserRole
from tests.factories import AdminUserFactory, UserFactory


def test_another_users_or_an_unknown_id_on_a_page_is_the_404_page(db) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(AdminUserFactory())
    response = client.get(f"/architect/executions/{uuid.uuid4()}/")
    assert response.status_code == 404
    assert b"Page not found" in response.content and b"Back to the dashboard" in response.content


def test_a_page_the_roles_do_not_grant_is_the_403_page(db) -> None:  # type: ignore[no-untyped-def]
    user = UserFactory()
    UserRole.objects.filter(user=user).delete()
    client = Client()
    client.force_login(user)
    response = client.get("/architect/")
    assert response.status_code == 403
    assert b"Not allowed" in response.content and b"assistant-architect" in response.content
