"""The Django admin pages of the accounts app: they render, filter, and never show a key's secret."""
from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts import services
from apps.accounts.models import ApiKey, User
from tests.factories import UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client() -> Client:
    root = User.objects.create_superuser(email="root@example.com", password="a-long-passphrase-7")
    client = Client()
    client.force_login(root)
    return client


def test_admin_pages_render(staff_client, user):
    workspace = WorkspaceFactory(owner=user)
    key, _raw = services.api_key_create(user=user, name="ci", scopes=["chat"])
    for url in ("/admin/accounts/user/", f"/admin/accounts/user/{user.pk}/change/", "/admin/accounts/user/?tier__slug__exact=free&q=user",
                "/admin/accounts/tier/", "/admin/accounts/tier/pro/change/", "/admin/accounts/role/", "/admin/accounts/workspace/",
                f"/admin/accounts/workspace/{workspace.pk}/change/", "/admin/accounts/apikey/", f"/admin/accounts/apikey/{key.pk}/change/",
                "/admin/accounts/user/add/"):
        response = staff_client.get(url)
        assert response.status_code == 200, url


def test_admin_never_shows_a_key_or_its_digest_and_can_revoke(staff_client, user):
    key, raw = services.api_key_create(user=user, name="ci", scopes=["chat"])
    for url in ("/admin/accounts/apikey/", f"/admin/accounts/apikey/{key.pk}/change/", f"/admin/accounts/user/{user.pk}/change/"):
        page = staff_client.get(url).content.decode()
        assert key.prefix in page
        assert raw not in page and key.digest not in page and raw[12:] not in page
    assert staff_client.get("/admin/accounts/apikey/add/").status_code == 403
    response = staff_client.post("/admin/accounts/apikey/", {"action": "revoke", "_selected_action": [str(key.pk)]}, follow=True)
    assert response.status_code == 200
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None


def test_admin_edits_roles_and_tier(staff_client):
    target = UserFactory()
    page = staff_client.get(f"/admin/accounts/user/{target.pk}/change/")
    assert page.status_code == 200 and b"Plan" in page.content
    from apps.accounts.models import Tier

    target.tier = Tier.objects.get(slug="enterprise")
    target.save()
    assert b"enterprise" in staff_client.get("/admin/accounts/user/?tier__slug__exact=enterprise").content.lower()
