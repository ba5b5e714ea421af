"""API keys, workspaces and members, administration, and the BOLA matrix, over HTTP."""
from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import ApiKey, Role, Workspace, WorkspaceInvitation, WorkspaceMember
from tests.accounts.conftest import jwt_client, key_client
from tests.factories import UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:  # type: ignore[no-untyped-def]
    return jwt_client(user)[0]


def _error(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    return response.json()["error"]


# ------------------------------------------------------------------------------ keys
def test_create_list_and_revoke_a_key(user):
    client = _client(user)
    response = client.post("/api/v1/keys", {"name": "ci", "scopes": ["chat", "knowledge"], "expires_in_days": 30, "rate_limit": 100}, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    raw = created["key"]
    assert raw.startswith("nxk_") and len(raw) > 40 and created["prefix"] == raw[:12]
    assert created["scopes"] == ["chat", "knowledge"] and created["rate_limit"] == 100 and created["expires_at"]
    stored = ApiKey.objects.get(pk=created["id"])
    assert raw not in (stored.digest, stored.prefix) and stored.digest != raw
    listed = client.get("/api/v1/keys").json()
    assert listed["count"] == 1 and "key" not in listed["results"][0] and "digest" not in listed["results"][0]
    assert raw not in str(listed)
    key_api = APIClient()
    key_api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert key_api.get("/api/v1/users/me").status_code == 200
    assert client.delete(f"/api/v1/keys/{created['id']}").status_code == 204
    _error(key_api.get("/api/v1/users/me"), 401, "UNAUTHORIZED")
    assert client.get("/api/v1/keys").json()["count"] == 0
    _error(client.delete(f"/api/v1/keys/{created['id']}"), 404, "NOT_FOUND")


def test_key_defaults_to_full_access_and_rejects_unknown_scopes(user):
    client = _client(user)
    assert client.post("/api/v1/keys", {"name": "all"}, format="json").json()["scopes"] == ["*"]
    error = _error(client.post("/api/v1/keys", {"name": "bad", "scopes": ["chat", "root"]}, format="json"), 400, "VALIDATION_ERROR")
    assert "scopes" in error["details"]
    _error(client.post("/api/v1/keys", {"name": "none", "scopes": []}, format="json"), 400, "VALIDATION_ERROR")
    _error(client.post("/api/v1/keys", {"scopes": ["*"]}, format="json"), 400, "VALIDATION_ERROR")


def test_full_access_cannot_be_combined_with_other_scopes(user):
    client = _client(user)
    error = _error(client.post("/api/v1/keys", {"name": "mixed", "scopes": ["*", "chat", "knowledge"]}, format="json"),
                   400, "VALIDATION_ERROR")
    assert "scopes" in error["details"]
    assert not ApiKey.objects.filter(user=user, name="mixed").exists()
    narrow = client.post("/api/v1/keys", {"name": "narrow", "scopes": ["knowledge", "chat"]}, format="json")
    assert narrow.status_code == 201 and narrow.json()["scopes"] == ["chat", "knowledge"]
    _error(client.post("/api/v1/keys", {"name": "x", "expires_in_days": 0}, format="json"), 400, "VALIDATION_ERROR")


def test_a_full_key_can_manage_keys(user):
    client, _raw = key_client(user, scopes=["*"])
    assert client.post("/api/v1/keys", {"name": "child", "scopes": ["chat"]}, format="json").status_code == 201


# ------------------------------------------------------------------------------ users/me
def test_users_me_get_and_patch(user):
    client = _client(user)
    assert client.get("/api/v1/users/me").json()["email"] == user.email
    body = client.patch("/api/v1/users/me", {"first_name": "Grace", "last_name": "Hopper"}, format="json").json()
    assert (body["first_name"], body["last_name"]) == ("Grace", "Hopper")
    error = _error(client.patch("/api/v1/users/me", {"password": "another-passphrase-1", "current_password": "wrong"}, format="json"), 400, "VALIDATION_ERROR")
    assert "current_password" in error["details"]
    error = _error(client.patch("/api/v1/users/me", {"password": "short", "current_password": "correct-horse-battery"}, format="json"), 400, "VALIDATION_ERROR")
    assert "password" in error["details"]


# ------------------------------------------------------------------------------ workspaces
def test_workspace_lifecycle_and_member_roles(user, invite, join):
    owner = _client(user)
    created = owner.post("/api/v1/workspaces", {"name": "Research", "description": "papers"}, format="json")
    assert created.status_code == 201, created.content
    workspace = created.json()
    assert workspace["role"] == "owner" and workspace["member_count"] == 1
    wid = workspace["id"]
    admin_user, member_user = UserFactory(), UserFactory()
    # Adding a member invites them by email: 202 with the invitation, and no membership until they accept.
    invited, _token = invite(owner, wid, admin_user.email, "admin")
    assert invited.status_code == 202 and invited.json()["invitation"]["role"] == "admin"
    assert not WorkspaceMember.objects.filter(workspace_id=wid, user=admin_user).exists()
    added, _token = invite(owner, wid, member_user.email.upper())
    invitation = added.json()["invitation"]
    assert added.status_code == 202 and invitation["role"] == "member" and invitation["email"] == member_user.email
    assert invitation["status"] == "pending" and set(invitation) == {"id", "email", "role", "status", "created_at", "expires_at"}
    # An address without an account gets the same answer: nothing tells whether an account exists.
    ghost, _token = invite(owner, wid, "ghost@example.com")
    assert ghost.status_code == 202 and set(ghost.json()) == set(added.json()) == {"invitation"}
    assert "account" not in ghost.content.decode().lower()
    _error(owner.post(f"/api/v1/workspaces/{wid}/members", {"email": member_user.email, "role": "king"}, format="json"), 400, "VALIDATION_ERROR")
    join(owner, wid, admin_user, "admin")
    join(owner, wid, member_user)
    # Inviting someone who is already a member is 202 too, and accepting makes no second membership.
    again, token = invite(owner, wid, member_user.email, "admin")
    assert again.status_code == 202 and token
    from apps.accounts import services

    services.invitation_accept(raw_token=token, user=member_user)
    assert WorkspaceMember.objects.get(workspace_id=wid, user=member_user).role == "member"
    members = owner.get(f"/api/v1/workspaces/{wid}/members").json()
    assert members["count"] == 3 and [m["role"] for m in members["results"]] == ["owner", "admin", "member"]

    member, admin = _client(member_user), _client(admin_user)
    assert member.get(f"/api/v1/workspaces/{wid}").json()["role"] == "member"
    assert member.get(f"/api/v1/workspaces/{wid}/members").json()["count"] == 3
    _error(member.patch(f"/api/v1/workspaces/{wid}", {"name": "Mine"}, format="json"), 403, "FORBIDDEN")
    _error(member.post(f"/api/v1/workspaces/{wid}/members", {"email": UserFactory().email}, format="json"), 403, "FORBIDDEN")
    _error(member.get(f"/api/v1/workspaces/{wid}/invitations"), 403, "FORBIDDEN")
    _error(member.delete(f"/api/v1/workspaces/{wid}/members/{admin_user.id}"), 403, "FORBIDDEN")
    _error(member.delete(f"/api/v1/workspaces/{wid}"), 403, "FORBIDDEN")
    assert admin.patch(f"/api/v1/workspaces/{wid}", {"name": "Research 2"}, format="json").json()["name"] == "Research 2"
    _error(admin.post(f"/api/v1/workspaces/{wid}/members", {"email": UserFactory().email, "role": "owner"}, format="json"), 403, "FORBIDDEN")
    _error(admin.delete(f"/api/v1/workspaces/{wid}/members/{user.id}"), 403, "FORBIDDEN")  # admins cannot remove owners
    _error(admin.delete(f"/api/v1/workspaces/{wid}"), 403, "FORBIDDEN")  # only owners delete
    # the last owner cannot be removed, not even by themself
    _error(owner.delete(f"/api/v1/workspaces/{wid}/members/{user.id}"), 409, "CONFLICT")
    # a member may leave; an admin may remove a member
    assert member.delete(f"/api/v1/workspaces/{wid}/members/{member_user.id}").status_code == 204
    _error(member.get(f"/api/v1/workspaces/{wid}"), 404, "NOT_FOUND")
    _error(admin.delete(f"/api/v1/workspaces/{wid}/members/{member_user.id}"), 404, "NOT_FOUND")
    # with a second owner, the first may go
    second_owner = UserFactory()
    join(owner, wid, second_owner, "owner")
    assert owner.delete(f"/api/v1/workspaces/{wid}/members/{user.id}").status_code == 204
    assert _client(second_owner).delete(f"/api/v1/workspaces/{wid}").status_code == 204
    assert not Workspace.objects.filter(pk=wid).exists()


def test_workspace_validation(user):
    client = _client(user)
    _error(client.post("/api/v1/workspaces", {}, format="json"), 400, "VALIDATION_ERROR")
    _error(client.post("/api/v1/workspaces", {"name": "x" * 200}, format="json"), 400, "VALIDATION_ERROR")
    _error(client.get("/api/v1/workspaces/not-a-uuid"), 404, "NOT_FOUND")
    _error(client.get("/api/v1/workspaces?limit=-1"), 400, "VALIDATION_ERROR")


def test_workspace_list_shows_only_mine(user, other_user):
    WorkspaceFactory(owner=user, name="Mine")
    WorkspaceFactory(owner=other_user, name="Theirs")
    names = [w["name"] for w in _client(user).get("/api/v1/workspaces").json()["results"]]
    assert names == ["Mine"]


# ------------------------------------------------------------------------------ BOLA matrix
def test_bola_matrix_other_users_ids_answer_404_with_no_data(user, other_user, join, invite):
    """User B tries every object route of this issue on user A's ids: 404, never 403, never data."""
    a = _client(user)
    key = a.post("/api/v1/keys", {"name": "secret-key-name"}, format="json").json()
    workspace = a.post("/api/v1/workspaces", {"name": "secret-workspace"}, format="json").json()
    member = UserFactory(email="secret-member@example.com")
    join(a, workspace["id"], member)
    pending, _token = invite(a, workspace["id"], "secret-invitee@example.com")
    invitation_id = pending.json()["invitation"]["id"]
    wid, kid = workspace["id"], key["id"]
    b = _client(other_user)
    b_key, _ = key_client(other_user)
    attempts = [
        ("get", f"/api/v1/keys/{kid}", None),
        ("delete", f"/api/v1/keys/{kid}", None),
        ("get", f"/api/v1/workspaces/{wid}", None),
        ("patch", f"/api/v1/workspaces/{wid}", {"name": "pwned"}),
        ("delete", f"/api/v1/workspaces/{wid}", None),
        ("get", f"/api/v1/workspaces/{wid}/members", None),
        ("post", f"/api/v1/workspaces/{wid}/members", {"email": other_user.email, "role": "owner"}),
        ("delete", f"/api/v1/workspaces/{wid}/members/{member.id}", None),
        ("delete", f"/api/v1/workspaces/{wid}/members/{user.id}", None),
        ("get", f"/api/v1/workspaces/{wid}/invitations", None),
        ("delete", f"/api/v1/workspaces/{wid}/invitations/{invitation_id}", None),
    ]
    for client in (b, b_key):
        for method, path, body in attempts:
            response = getattr(client, method)(path, body, format="json") if body else getattr(client, method)(path)
            assert response.status_code == 404, (method, path, response.status_code)
            text = response.content.decode()
            assert response.json()["error"]["code"] == "NOT_FOUND"
            for secret in ("secret-key-name", "secret-workspace", "secret-member", "secret-invitee", key["prefix"]):
                assert secret not in text
    # nothing changed
    assert ApiKey.objects.get(pk=kid).revoked_at is None
    assert Workspace.objects.get(pk=wid).name == "secret-workspace"
    assert WorkspaceMember.objects.filter(workspace_id=wid).count() == 2
    assert not WorkspaceMember.objects.filter(workspace_id=wid, user=other_user).exists()
    assert WorkspaceInvitation.objects.get(pk=invitation_id).status == "pending"
    # unknown ids look exactly the same
    for path in (f"/api/v1/keys/{uuid.uuid4()}", f"/api/v1/workspaces/{uuid.uuid4()}"):
        _error(b.get(path), 404, "NOT_FOUND")


# ------------------------------------------------------------------------------ administration
def test_admin_routes_need_the_admin_role(user):
    client = _client(user)
    for path in ("/api/v1/admin/users", "/api/v1/admin/roles"):
        _error(client.get(path), 403, "FORBIDDEN")
    role = Role.objects.get(name="admin")
    _error(client.post(f"/api/v1/admin/users/{user.id}/roles", {"role_id": str(role.id)}, format="json"), 403, "FORBIDDEN")


def test_admin_lists_searches_and_assigns_roles(admin_user, user):
    client = _client(admin_user)
    roles = client.get("/api/v1/admin/roles").json()["results"]
    by_name = {r["name"]: r for r in roles}
    assert set(by_name) >= {"user", "admin"} and "admin" in by_name["admin"]["tools"]
    listed = client.get("/api/v1/admin/users", {"search": user.email.split("@")[0].upper() + "@"}).json()
    assert [u["email"] for u in listed["results"]] == [user.email]
    row = listed["results"][0]
    assert {"roles", "created_at", "last_login", "tier"} <= set(row) and [r["name"] for r in row["roles"]] == ["user"]
    assert client.get("/api/v1/admin/users").json()["count"] >= 2
    assigned = client.post(f"/api/v1/admin/users/{user.id}/roles", {"role_id": by_name["admin"]["id"]}, format="json")
    assert assigned.status_code == 200 and {r["name"] for r in assigned.json()["roles"]} == {"user", "admin"}
    assert _client(user).get("/api/v1/admin/roles").status_code == 200  # the new role works at once
    assert client.delete(f"/api/v1/admin/users/{user.id}/roles/{by_name['admin']['id']}").status_code == 204
    _error(_client(user).get("/api/v1/admin/roles"), 403, "FORBIDDEN")
    _error(client.delete(f"/api/v1/admin/users/{user.id}/roles/{by_name['admin']['id']}"), 404, "NOT_FOUND")
    _error(client.post(f"/api/v1/admin/users/{user.id}/roles", {"role_id": str(uuid.uuid4())}, format="json"), 400, "VALIDATION_ERROR")
    _error(client.post(f"/api/v1/admin/users/{uuid.uuid4()}/roles", {"role_id": by_name["admin"]["id"]}, format="json"), 404, "NOT_FOUND")


def test_admin_routes_need_the_admin_key_scope(admin_user):
    chat_key, _ = key_client(admin_user, scopes=["chat"])
    _error(chat_key.get("/api/v1/admin/users"), 403, "FORBIDDEN")
    admin_key, _ = key_client(admin_user, scopes=["admin"])
    assert admin_key.get("/api/v1/admin/users").status_code == 200


def test_the_openapi_schema_lists_the_accounts_routes(user):
    schema = _client(user).get("/api/v1/schema", HTTP_ACCEPT="application/json").json()
    for path in ("/api/v1/auth/signup", "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout", "/api/v1/auth/session",
                 "/api/v1/users/me", "/api/v1/keys", "/api/v1/keys/{id}", "/api/v1/workspaces", "/api/v1/workspaces/{id}",
                 "/api/v1/workspaces/{workspace_id}/members", "/api/v1/workspaces/{workspace_id}/members/{user_id}",
                 "/api/v1/workspaces/{workspace_id}/invitations", "/api/v1/workspaces/{workspace_id}/invitations/{invitation_id}",
                 "/api/v1/admin/users", "/api/v1/admin/users/{user_id}/roles", "/api/v1/admin/users/{user_id}/roles/{role_id}",
                 "/api/v1/admin/roles"):
        assert path in schema["paths"], path


def test_workspace_member_count_counts_every_member(user, join):
    client = _client(user)
    wid = client.post("/api/v1/workspaces", {"name": "Count"}, format="json").json()["id"]
    for _ in range(2):
        join(client, wid, UserFactory())
    assert client.get(f"/api/v1/workspaces/{wid}").json()["member_count"] == 3
    assert client.get("/api/v1/workspaces").json()["results"][0]["member_count"] == 3


def test_admin_user_list_costs_a_fixed_number_of_queries(admin_user, django_assert_max_num_queries):
    for _ in range(5):
        UserFactory()
    client = _client(admin_user)
    with django_assert_max_num_queries(8):
        assert client.get("/api/v1/admin/users").json()["count"] == 6
