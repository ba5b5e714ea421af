"""Workspace invitations: mailed links (only a digest stored), re-sends, revoke, accept rules, the API and the pages."""
from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from apps.accounts import services
from apps.accounts.errors import InvitationClosed, InvitationNotFound, InvitationWrongAccount
from apps.accounts.models import WorkspaceInvitation, WorkspaceMember
from apps.core.errors import Forbidden
from tests.accounts.conftest import invitation_link, jwt_client
from tests.factories import UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    return response.json()["error"]


@pytest.fixture
def owner(user: Any) -> Any:
    return user


@pytest.fixture
def page_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def workspace(owner: Any) -> Any:
    return WorkspaceFactory(owner=owner, name="Lab")


def test_the_mail_carries_the_link_and_only_a_digest_is_stored(owner, workspace, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invitation = services.invitation_create(workspace=workspace, user=owner, email="  New.Person@Example.COM ", role="admin")
    assert invitation.email == "new.person@example.com" and invitation.role == "admin" and invitation.invited_by == owner
    assert invitation.expires_at - invitation.created_at == timedelta(days=settings.WORKSPACE_INVITATION_DAYS) == timedelta(days=7)
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["new.person@example.com"]
    mail = mailoutbox[0]
    link, token = invitation_link(mail)
    assert link == settings.SITE_URL.rstrip("/") + f"/invitations/{token}/"
    assert "Lab" in mail.subject and "Lab" in mail.body and "admin" in mail.body and "7 days" in mail.body
    invitation.refresh_from_db()
    assert invitation.token_digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(WorkspaceInvitation.objects.filter(pk=invitation.pk).values().get())


def test_inviting_again_resends_one_invitation_with_a_new_link(owner, workspace, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = services.invitation_create(workspace=workspace, user=owner, email="twice@example.com", role="member")
    with django_capture_on_commit_callbacks(execute=True):
        second = services.invitation_create(workspace=workspace, user=owner, email="TWICE@example.com", role="admin")
    assert first.pk == second.pk and WorkspaceInvitation.objects.filter(workspace=workspace).count() == 1
    old_token, new_token = invitation_link(mailoutbox[0])[1], invitation_link(mailoutbox[1])[1]
    assert old_token != new_token
    invitee = UserFactory(email="twice@example.com")
    with pytest.raises(InvitationNotFound):
        services.invitation_accept(raw_token=old_token, user=invitee)  # the re-send replaced the old link
    member = services.invitation_accept(raw_token=new_token, user=invitee)
    assert member.role == "admin"
    # Once accepted, a new invitation to the same address is a new row (the accepted one stays as history).
    services.invitation_create(workspace=workspace, user=owner, email="twice@example.com", role="member")
    assert WorkspaceInvitation.objects.filter(workspace=workspace).count() == 2


def test_accept_rules(owner, workspace, mailoutbox, django_capture_on_commit_callbacks):
    invitee, stranger = UserFactory(email="invitee@example.com"), UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        services.invitation_create(workspace=workspace, user=owner, email="Invitee@example.com", role="member")
    token = invitation_link(mailoutbox[-1])[1]
    with pytest.raises(InvitationWrongAccount) as wrong:
        services.invitation_accept(raw_token=token, user=stranger)
    assert "invitee@example.com" not in wrong.value.message and "another email address" in wrong.value.message
    assert not WorkspaceMember.objects.filter(workspace=workspace, user=stranger).exists()
    member = services.invitation_accept(raw_token=token, user=invitee)
    assert member.role == "member" and WorkspaceMember.objects.filter(workspace=workspace, user=invitee).count() == 1
    # idempotent for the same person; closed for anyone else
    assert services.invitation_accept(raw_token=token, user=invitee).pk == member.pk
    assert WorkspaceMember.objects.filter(workspace=workspace, user=invitee).count() == 1
    with pytest.raises(InvitationClosed):
        services.invitation_accept(raw_token=token, user=stranger)
    invitation = WorkspaceInvitation.objects.get(workspace=workspace, email="invitee@example.com")
    assert invitation.status == "accepted" and invitation.accepted_by == invitee
    with pytest.raises(InvitationNotFound):
        services.invitation_accept(raw_token="not-a-token", user=invitee)


def test_expired_and_revoked_invitations_cannot_be_accepted(owner, workspace, mailoutbox, django_capture_on_commit_callbacks):
    late, revoked = UserFactory(email="late@example.com"), UserFactory(email="revoked@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        expiring = services.invitation_create(workspace=workspace, user=owner, email=late.email, role="member")
        services.invitation_create(workspace=workspace, user=owner, email=revoked.email, role="member")
    late_token, revoked_token = (invitation_link(mail)[1] for mail in mailoutbox)
    WorkspaceInvitation.objects.filter(pk=expiring.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(InvitationClosed) as expired:
        services.invitation_accept(raw_token=late_token, user=late)
    assert "expired" in expired.value.message
    invitation = WorkspaceInvitation.objects.get(email=revoked.email)
    services.invitation_revoke(invitation=invitation, user=owner)
    with pytest.raises(InvitationClosed) as closed:
        services.invitation_accept(raw_token=revoked_token, user=revoked)
    assert "revoked" in closed.value.message
    assert WorkspaceMember.objects.filter(workspace=workspace).count() == 1
    # a revoked invitation is not mailed again by a late (or retried) mail task
    services.invitation_mail_send(invitation_id=str(invitation.pk))
    assert len(mailoutbox) == 2


def test_permissions_follow_member_add(owner, workspace):
    admin, member = UserFactory(), UserFactory()
    services.workspace_member_add(workspace=workspace, user=owner, email=admin.email, role="admin")
    services.workspace_member_add(workspace=workspace, user=owner, email=member.email, role="member")
    with pytest.raises(Forbidden):
        services.invitation_create(workspace=workspace, user=member, email="x@example.com", role="member")
    with pytest.raises(Forbidden):
        services.invitation_create(workspace=workspace, user=admin, email="x@example.com", role="owner")
    by_owner = services.invitation_create(workspace=workspace, user=owner, email="boss@example.com", role="owner")
    with pytest.raises(Forbidden):
        services.invitation_revoke(invitation=by_owner, user=admin)  # only owners revoke an owner's invitation
    by_admin = services.invitation_create(workspace=workspace, user=admin, email="y@example.com", role="admin")
    services.invitation_revoke(invitation=by_admin, user=admin)
    assert WorkspaceInvitation.objects.get(pk=by_admin.pk).status == "revoked"


# ------------------------------------------------------------------------------ API
def test_invitations_api_lists_pending_and_revokes(owner, workspace, invite):
    client = jwt_client(owner)[0]
    wid = workspace.pk
    sent, _token = invite(client, wid, "a@example.com", "admin")
    assert sent.status_code == 202
    _sent, token_b = invite(client, wid, "b@example.com")
    expired, _token = invite(client, wid, "old@example.com")
    WorkspaceInvitation.objects.filter(pk=expired.json()["invitation"]["id"]).update(expires_at=timezone.now() - timedelta(minutes=1))
    listed = client.get(f"/api/v1/workspaces/{wid}/invitations")
    assert listed.status_code == 200
    rows = listed.json()["results"]
    assert [r["email"] for r in rows] == ["b@example.com", "a@example.com"]  # newest first; expired ones are not pending
    assert rows[1] == sent.json()["invitation"]
    assert all(set(r) == {"id", "email", "role", "status", "created_at", "expires_at"} for r in rows)
    b_id = rows[0]["id"]
    assert client.delete(f"/api/v1/workspaces/{wid}/invitations/{b_id}").status_code == 204
    assert client.delete(f"/api/v1/workspaces/{wid}/invitations/{b_id}").status_code == 204  # revoking twice is harmless
    assert [r["email"] for r in client.get(f"/api/v1/workspaces/{wid}/invitations").json()["results"]] == ["a@example.com"]
    with pytest.raises(InvitationClosed):
        services.invitation_accept(raw_token=token_b, user=UserFactory(email="b@example.com"))
    _error(client.delete(f"/api/v1/workspaces/{wid}/invitations/00000000-0000-0000-0000-000000000000"), 404, "NOT_FOUND")
    # an accepted invitation cannot be revoked any more
    _accepted, token_c = invite(client, wid, "c@example.com")
    services.invitation_accept(raw_token=token_c, user=UserFactory(email="c@example.com"))
    c_id = WorkspaceInvitation.objects.get(email="c@example.com").pk
    _error(client.delete(f"/api/v1/workspaces/{wid}/invitations/{c_id}"), 409, "CONFLICT")


def test_invitation_api_errors(owner, workspace, other_user, invite):
    client = jwt_client(owner)[0]
    wid = workspace.pk
    _error(client.post(f"/api/v1/workspaces/{wid}/members", {"email": "x@example.com", "role": "king"}, format="json"), 400, "VALIDATION_ERROR")
    _error(client.post(f"/api/v1/workspaces/{wid}/members", {"email": "not-an-email"}, format="json"), 400, "VALIDATION_ERROR")
    sent, _token = invite(client, wid, "x@example.com")
    invitation_id = sent.json()["invitation"]["id"]
    stranger = jwt_client(other_user)[0]
    _error(stranger.post(f"/api/v1/workspaces/{wid}/members", {"email": "y@example.com"}, format="json"), 404, "NOT_FOUND")
    _error(stranger.get(f"/api/v1/workspaces/{wid}/invitations"), 404, "NOT_FOUND")
    _error(stranger.delete(f"/api/v1/workspaces/{wid}/invitations/{invitation_id}"), 404, "NOT_FOUND")
    member = UserFactory()
    services.workspace_member_add(workspace=workspace, user=owner, email=member.email, role="member")
    member_client = jwt_client(member)[0]
    _error(member_client.post(f"/api/v1/workspaces/{wid}/members", {"email": "y@example.com"}, format="json"), 403, "FORBIDDEN")
    _error(member_client.get(f"/api/v1/workspaces/{wid}/invitations"), 403, "FORBIDDEN")
    _error(member_client.delete(f"/api/v1/workspaces/{wid}/invitations/{invitation_id}"), 403, "FORBIDDEN")
    assert WorkspaceInvitation.objects.get(pk=invitation_id).status == "pending"


def test_an_existing_account_and_an_unknown_address_get_the_same_answer(owner, workspace, invite):
    client = jwt_client(owner)[0]
    known_user = UserFactory(email="known@example.com")
    member = UserFactory(email="member@example.com")
    services.workspace_member_add(workspace=workspace, user=owner, email=member.email, role="member")
    answers = [invite(client, workspace.pk, email)[0] for email in (known_user.email, "unknown@example.com", member.email)]
    assert {a.status_code for a in answers} == {202}
    shapes = [{k: (v if k in ("role", "status") else type(v).__name__) for k, v in a.json()["invitation"].items()} for a in answers]
    assert shapes[0] == shapes[1] == shapes[2]
    assert {tuple(sorted(a.headers.keys())) for a in answers} == {tuple(sorted(answers[0].headers.keys()))}


def test_invitations_are_rate_limited_per_inviter(owner, workspace, settings):
    settings.WORKSPACE_INVITATION_RATE = "2/m"
    client = jwt_client(owner)[0]
    for i in range(2):
        assert client.post(f"/api/v1/workspaces/{workspace.pk}/members", {"email": f"r{i}@example.com"}, format="json").status_code == 202
    _error(client.post(f"/api/v1/workspaces/{workspace.pk}/members", {"email": "r9@example.com"}, format="json"), 429, "RATE_LIMITED")


# ------------------------------------------------------------------------------ pages
def test_accept_page_flow(owner, workspace, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.invitation_create(workspace=workspace, user=owner, email="pat@example.com", role="admin")
    link, token = invitation_link(mailoutbox[-1])
    path = f"/invitations/{token}/"
    browser = Client()
    anonymous = browser.get(path)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/") and "next=/invitations/" in anonymous["Location"]
    login_page = browser.get(anonymous["Location"])
    assert b"/signup/?next=/invitations/" in login_page.content  # signing up also leads back
    signed_up = browser.post(f"/signup/?next={path}", {"email": "pat@example.com", "password": "a-long-passphrase-7", "next": path})
    assert signed_up.status_code == 302 and signed_up["Location"] == path
    page = browser.get(path)
    assert page.status_code == 200 and b"Lab" in page.content and b"Admin" in page.content and b"Accept" in page.content
    assert not WorkspaceMember.objects.filter(workspace=workspace, user__email="pat@example.com").exists()  # a GET changes nothing
    accepted = browser.post(path)
    assert accepted.status_code == 302 and accepted["Location"] == f"/workspaces/{workspace.pk}/"
    assert WorkspaceMember.objects.get(workspace=workspace, user__email="pat@example.com").role == "admin"
    assert browser.get(path)["Location"] == f"/workspaces/{workspace.pk}/"  # the used link leads to the workspace


def test_accept_page_messages(owner, workspace, other_user, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invitation = services.invitation_create(workspace=workspace, user=owner, email="someone@example.com", role="member")
    token = invitation_link(mailoutbox[-1])[1]
    browser = Client()
    browser.force_login(other_user)
    wrong = browser.get(f"/invitations/{token}/")
    assert wrong.status_code == 403 and b"sent to another email address" in wrong.content
    assert b"someone@example.com" not in wrong.content and b"Lab" not in wrong.content
    assert browser.post(f"/invitations/{token}/").status_code == 403
    assert not WorkspaceMember.objects.filter(workspace=workspace, user=other_user).exists()
    unknown = browser.get("/invitations/nonsense/")
    assert unknown.status_code == 404 and b"not valid" in unknown.content
    invited = UserFactory(email="someone@example.com")
    browser.force_login(invited)
    WorkspaceInvitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    expired = browser.get(f"/invitations/{token}/")
    assert expired.status_code == 410 and b"has expired" in expired.content
    WorkspaceInvitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() + timedelta(days=1), revoked_at=timezone.now())
    revoked = browser.get(f"/invitations/{token}/")
    assert revoked.status_code == 410 and b"was revoked" in revoked.content


def test_signup_ignores_a_next_on_another_site():
    response = Client().post("/signup/?next=https://evil.example/", {"email": "n@example.com", "password": "a-long-passphrase-7",
                                                                      "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/"


def test_workspace_page_lists_and_revokes_invitations(page_client, user, mailoutbox, django_capture_on_commit_callbacks):
    workspace = WorkspaceFactory(owner=user, name="Ops")
    url = f"/workspaces/{workspace.pk}/"
    with django_capture_on_commit_callbacks(execute=True):
        sent = page_client.post(url, {"action": "add", "email": "Ana@Example.com", "role": "admin"}, follow=True)
    assert b"Invitation sent to ana@example.com" in sent.content and b"data-testid=\"invitation-row\"" in sent.content
    assert len(mailoutbox) == 1
    invitation = WorkspaceInvitation.objects.get(workspace=workspace)
    revoked = page_client.post(url, {"action": "revoke_invitation", "invitation_id": str(invitation.pk)}, follow=True)
    assert b"Invitation to ana@example.com revoked." in revoked.content and b"No pending invitations." in revoked.content
    other = WorkspaceFactory(owner=UserFactory())
    theirs = services.invitation_create(workspace=other, user=other.memberships.get().user, email="z@example.com", role="member")
    page_client.post(url, {"action": "revoke_invitation", "invitation_id": str(theirs.pk)})
    assert WorkspaceInvitation.objects.get(pk=theirs.pk).status == "pending"  # another workspace's invitation is out of reach
