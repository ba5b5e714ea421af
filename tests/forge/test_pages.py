"""Forge dashboard pages: new build and list, the build page, the statistics for admins; others' builds are 404."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.accounts.models import UserRole
from apps.forge.models import Build
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_pages(forge_caller: Any) -> None:
    user = forge_caller.user
    build = Build.objects.create(owner=user, prompt="A garden planner", app_name="Garden Planner", status="completed",
                                model_name="forge-fake")
    Build.objects.create(owner=user, prompt="A recipe box", status="failed", model_name="forge-fake")
    client = _client(user)
    home = client.get("/forge/").content.decode()
    assert 'id="new-build"' in home and "Garden Planner" in home and "A recipe box" in home
    assert all(f'data-template="{slug}"' in home for slug in ["dashboard", "landing-page", "crud-app", "portfolio", "blog"])
    assert 'id="forge-stats"' not in home  # statistics are for admins
    searched = client.get("/forge/?search=garden").content.decode()
    assert "Garden Planner" in searched and "A recipe box" not in searched
    assert "A recipe box" in client.get("/forge/?status=failed").content.decode()
    page = client.get(f"/forge/builds/{build.pk}/")
    assert page.status_code == 200 and f'data-build-id="{build.pk}"' in page.content.decode()
    assert _client(UserFactory()).get(f"/forge/builds/{build.pk}/").status_code == 404
    admin = UserFactory(is_superuser=True, is_staff=True)
    assert 'id="forge-stats"' in _client(admin).get("/forge/").content.decode()
    assert _client(admin).get("/admin/forge/build/statistics/").status_code == 200
    assert Client().get("/forge/").status_code == 302  # to the login page
    assert client.get("/apps/no-such-app/").status_code == 404


def test_without_the_forge_tool_the_pages_are_forbidden(forge_caller: Any) -> None:
    user = forge_caller.user
    UserRole.objects.filter(user=user).delete()
    assert _client(user).get("/forge/").status_code == 403
