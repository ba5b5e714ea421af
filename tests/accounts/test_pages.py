"""Dashboard pages of the accounts app through Django's test client (the browser test drives them too)."""
from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.models import ApiKey, User, Workspace, WorkspaceMember
from tests.factories import UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def page_client(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_pages_need_a_login():
    for url in ("/account/", "/account/keys/", "/workspaces/"):
        response = Client().get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_signup_page_creates_an_account_and_signs_in():
    client = Client()
    assert b"Create your Nexus account" in client.get("/signup/").content
    weak = client.post("/signup/", {"email": "page@example.com", "password": "123"})
    assert weak.status_code == 200 and b"field-error" in weak.content
    response = client.post("/signup/", {"email": "page@example.com", "password": "a-long-passphrase-7", "first_name": "Pat"})
    assert response.status_code == 302
    assert User.objects.get(email="page@example.com").first_name == "Pat"
    assert client.get("/account/").status_code == 200
    taken = Client().post("/signup/", {"email": "PAGE@example.com", "password": "a-long-passphrase-7"})
    assert b"already exists" in taken.content


def test_login_page_links_to_signup():
    assert b'href="/signup/"' in Client().get("/login/").content


def test_profile_page_edits_names_and_password(page_client, user):
    page = page_client.get("/account/").content.decode()
    assert "Free" in page and "chat" in page
    page_client.post("/account/", {"form": "profile", "first_name": "Lin", "last_name": "Qi"})
    user.refresh_from_db()
    assert (user.first_name, user.last_name) == ("Lin", "Qi")
    wrong = page_client.post("/account/", {"form": "password", "current_password": "nope", "password": "another-passphrase-2"})
    assert b"current password is not correct" in wrong.content
    ok = page_client.post("/account/", {"form": "password", "current_password": "correct-horse-battery", "password": "another-passphrase-2"})
    assert ok.status_code == 302
    user.refresh_from_db()
    assert user.check_password("another-passphrase-2")
    assert page_client.get("/account/").status_code == 200  # still signed in on this session


def test_keys_page_shows_a_new_key_once_and_revokes(page_client, user):
    response = page_client.post("/account/keys/", {"name": "laptop", "scopes": ["chat", "knowledge"], "rate_limit": "30"}, follow=True)
    page = response.content.decode()
    key = ApiKey.objects.get(user=user)
    assert 'data-testid="new-key-value"' in page and key.prefix in page
    raw = page.split('data-testid="new-key-value">')[1].split("<")[0]
    assert raw.startswith(key.prefix) and len(raw) > 40
    assert raw not in page_client.get("/account/keys/").content.decode()  # shown once
    page_client.post(f"/account/keys/{key.pk}/revoke/")
    key.refresh_from_db()
    assert key.revoked_at is not None
    invalid = page_client.post("/account/keys/", {"name": "", "scopes": []})
    assert invalid.status_code == 200 and b"field-error" in invalid.content


def test_keys_page_cannot_revoke_someone_elses_key(page_client, other_user):
    from apps.accounts import services

    key, _raw = services.api_key_create(user=other_user, name="theirs", scopes=["*"])
    assert page_client.post(f"/account/keys/{key.pk}/revoke/").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_workspace_pages(page_client, user, other_user, mailoutbox, django_capture_on_commit_callbacks):
    from apps.accounts import services
    from tests.accounts.conftest import invitation_link

    response = page_client.post("/workspaces/", {"name": "Design", "description": "UI"}, follow=True)
    workspace = Workspace.objects.get(name="Design")
    assert response.status_code == 200 and b"Invite by email" in response.content
    url = f"/workspaces/{workspace.pk}/"
    with django_capture_on_commit_callbacks(execute=True):
        known = page_client.post(url, {"action": "add", "email": other_user.email, "role": "member"}, follow=True)
    assert f"Invitation sent to {other_user.email}".encode() in known.content
    assert not WorkspaceMember.objects.filter(workspace=workspace, user=other_user).exists()  # not before they accept
    services.invitation_accept(raw_token=invitation_link(mailoutbox[-1])[1], user=other_user)
    assert WorkspaceMember.objects.filter(workspace=workspace, user=other_user, role="member").exists()
    # An address with no account reads exactly the same: the page never tells who has an account.
    unknown = page_client.post(url, {"action": "add", "email": "ghost@example.com", "role": "member"}, follow=True)
    assert b"Invitation sent to ghost@example.com" in unknown.content
    assert b"No account has this email" not in unknown.content
    last_owner = page_client.post(url, {"action": "remove", "user_id": str(user.pk)}, follow=True)
    assert b"at least one owner" in last_owner.content
    page_client.post(url, {"action": "remove", "user_id": str(other_user.pk)})
    assert not WorkspaceMember.objects.filter(workspace=workspace, user=other_user).exists()
    page_client.post(url, {"action": "rename", "name": "Design team", "description": ""})
    assert Workspace.objects.get(pk=workspace.pk).name == "Design team"
    page_client.post(url, {"action": "delete"})
    assert not Workspace.objects.filter(pk=workspace.pk).exists()


def test_workspace_page_of_another_team_is_404_and_members_cannot_manage(page_client, user):
    theirs = WorkspaceFactory(owner=UserFactory())
    assert page_client.get(f"/workspaces/{theirs.pk}/").status_code == 404
    shared = WorkspaceFactory(owner=UserFactory(), name="Shared")
    WorkspaceMember.objects.create(workspace=shared, user=user, role="member")
    page = page_client.get(f"/workspaces/{shared.pk}/").content
    assert b"Add a member" not in page and b"Invite by email" not in page and b"Pending invitations" not in page and b"Delete workspace" not in page
    response = page_client.post(f"/workspaces/{shared.pk}/", {"action": "rename", "name": "Mine"})
    assert b"owners and admins" in response.content
    assert Workspace.objects.get(pk=shared.pk).name == "Shared"


def test_navigation_offers_the_account_pages(page_client):
    page = page_client.get("/").content.decode()
    for href in ('href="/workspaces/"', 'href="/account/keys/"', 'href="/account/"'):
        assert href in page
