"""Workflows pages: the list and the editor for owners, 404 for others' workflows, 403 without the tool, admin lists."""
from __future__ import annotations

from typing import Any

from django.test import Client

from apps.accounts.models import UserRole
from tests.chat.conftest import make_caller
from tests.factories import UserFactory

from .conftest import client_for, condition, create


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_pages(committed_db: Any) -> None:
    owner, stranger = make_caller().user, make_caller().user
    workflow_id = create(client_for(owner), [condition("gate", "true")]).json()["id"]
    home = _client(owner).get("/workflows/")
    assert home.status_code == 200 and b"Flow" in home.content
    editor = _client(owner).get(f"/workflows/{workflow_id}/")
    assert editor.status_code == 200 and b'data-can-edit="1"' in editor.content
    assert _client(stranger).get(f"/workflows/{workflow_id}/").status_code == 404
    assert b"Flow" not in _client(stranger).get("/workflows/").content
    assert Client().get("/workflows/").status_code == 302  # to the login page
    admin = UserFactory(is_superuser=True, is_staff=True)
    assert _client(admin).get("/admin/workflows/workflow/").status_code == 200
    assert _client(admin).get("/admin/workflows/run/").status_code == 200


def test_without_the_workflows_tool_the_pages_are_forbidden(committed_db: Any) -> None:
    user = make_caller().user
    UserRole.objects.filter(user=user).delete()
    assert _client(user).get("/workflows/").status_code == 403
