"""Workspace invitations in headless Chromium: invite, see pending, revoke, then the invited person signs up from the mailed link and joins."""
from __future__ import annotations

import email
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from apps.accounts.models import User, WorkspaceInvitation, WorkspaceMember
from tests.conftest import LiveServer, start_daphne, stop_process
from tests.factories import UserFactory, WorkspaceFactory

pytestmark = [pytest.mark.browser, pytest.mark.live]

PASSWORD = "a-long-passphrase-7"


@pytest.fixture
def mail_dir(tmp_path: Path) -> Path:
    """Where the live server writes the mails it sends (one file per mail)."""
    path = tmp_path / "outbox"
    path.mkdir()
    return path


@pytest.fixture
def daphne_server(transactional_db: Any, tmp_path: Path, mail_dir: Path) -> Iterator[LiveServer]:
    """The live server, sending mail at once (tasks run in the request) into `mail_dir`, the test's outbox."""
    server = start_daphne(tmp_path, CELERY_TASK_ALWAYS_EAGER="true", EMAIL_URL=f"filemail:///{mail_dir}")
    try:
        yield server
    finally:
        stop_process(server.process)


def _mails(mail_dir: Path) -> list[email.message.Message]:
    """Every mail in the outbox, oldest first."""
    messages = []
    for path in sorted(mail_dir.iterdir(), key=lambda p: p.stat().st_mtime):
        for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if chunk.strip():
                messages.append(email.message_from_bytes(chunk.strip()))
    return messages


def _invitation_link(mail_dir: Path, to: str) -> str:
    """The link of the newest invitation mailed to `to`."""
    for message in reversed(_mails(mail_dir)):
        if message["To"] == to:
            payload = message.get_payload(decode=True)
            assert isinstance(payload, bytes)
            match = re.search(r"https?://\S+/invitations/[^/\s]+/", payload.decode())
            assert match, payload
            return match.group(0)
    raise AssertionError(f"no mail to {to}")


def test_invite_revoke_and_accept_in_a_browser(browser_page: Any, mail_dir: Path) -> None:
    from apps.accounts.seeds import seed

    seed()  # a transactional test flushes the seeded tiers and roles
    page = browser_page.page
    page.on("dialog", lambda dialog: dialog.accept())  # the revoke confirmation
    owner = UserFactory(email="owner@example.com", first_name="Olga")
    workspace = WorkspaceFactory(owner=owner, name="Moonshot")
    browser_page.login(owner.email)
    browser_page.goto(f"/workspaces/{workspace.pk}/")

    # invite two addresses: each is pending, and the page says the invitation was sent (never who has an account)
    for address, role in (("newbie@example.com", "admin"), ("typo@example.com", "member")):
        page.fill("[data-testid=member-form] #id_email", address)
        page.select_option("[data-testid=member-form] #id_role", role)
        page.click("[data-testid=member-form] button[type=submit]")
        page.wait_for_selector(f"text=Invitation sent to {address}.")
    assert "No account has this email" not in page.content()
    rows = page.locator("[data-testid=invitation-row]")
    assert rows.count() == 2 and "typo@example.com" in rows.nth(0).inner_text() and "newbie@example.com" in rows.nth(1).inner_text()
    # revoke the mistyped one
    page.click("[data-testid=invitation-row]:has-text('typo@example.com') [data-testid=revoke-invitation]")
    page.wait_for_selector("text=Invitation to typo@example.com revoked.")
    assert page.locator("[data-testid=invitation-row]").count() == 1
    assert WorkspaceInvitation.objects.get(email="typo@example.com").status == "revoked"
    browser_page.check_page("accounts-invitations-workspace")

    # the invited person opens the mailed link: log in or sign up first, then back to the invitation
    link = _invitation_link(mail_dir, "newbie@example.com")
    assert link.startswith(settings.SITE_URL.rstrip("/") + "/invitations/")
    path = "/" + link.split("/", 3)[3]
    browser_page.nav("Log out")
    page.wait_for_url(re.compile(r"/login/"))
    browser_page.goto(path)
    page.wait_for_url(re.compile(r"/login/\?next=/invitations/"))
    page.click("text=Create an account")
    page.wait_for_url(re.compile(r"/signup/\?next=/invitations/"))
    page.fill("#id_email", "newbie@example.com")
    page.fill("#id_password", PASSWORD)
    page.click("[data-testid=signup-form] button[type=submit]")
    page.wait_for_url(browser_page.base_url + path)
    assert page.inner_text("[data-testid=invitation-workspace]") == "Moonshot"
    assert page.inner_text("[data-testid=invitation-role]") == "Admin"
    browser_page.check_page("accounts-invitation-accept")
    page.click("[data-testid=accept-invitation]")
    page.wait_for_url(re.compile(rf"/workspaces/{workspace.pk}/$"))
    page.wait_for_selector("text=You joined “Moonshot” as admin.")
    assert page.inner_text("[data-testid=my-role]") == "admin"
    newbie = User.objects.get(email="newbie@example.com")
    assert WorkspaceMember.objects.get(workspace=workspace, user=newbie).role == "admin"
    assert page.locator("[data-testid=member-row]").count() == 2

    # the revoked invitation's link says so clearly
    typo_link = _invitation_link(mail_dir, "typo@example.com")
    browser_page.goto("/" + typo_link.split("/", 3)[3])
    assert "This invitation cannot be used" in page.inner_text("main")
    assert page.get_attribute("[data-testid=invitation-problem]", "data-kind") == "closed"
    assert "was revoked" in page.inner_text("[data-testid=invitation-problem]")
    browser_page.check_page("accounts-invitation-problem")
