"""The account pages in headless Chromium on a real daphne server: sign up, keys, workspaces, log out/in."""
from __future__ import annotations

import re

import httpx
import pytest

from apps.accounts import services
from apps.accounts.models import ApiKey, User, Workspace, WorkspaceMember
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.live]

PASSWORD = "a-long-passphrase-7"


def test_account_pages_in_a_browser(browser_page):
    page = browser_page.page
    page.on("dialog", lambda dialog: dialog.accept())  # the revoke/remove confirmations

    # sign up (a weak password is refused first, with the reason next to the field)
    browser_page.goto("/login/")
    page.click("text=Create an account")
    page.wait_for_url(re.compile(r"/signup/$"))
    page.fill("#id_first_name", "Ada")
    page.fill("#id_last_name", "Lovelace")
    page.fill("#id_email", "ada@example.com")
    page.fill("#id_password", "12345")
    page.click("button[type=submit]")
    assert page.locator(".field-error").count() >= 1
    browser_page.check_page("accounts-signup-error")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(browser_page.base_url + "/")
    assert "Welcome" in page.inner_text("main")
    user = User.objects.get(email="ada@example.com")
    assert user.tier_id == "free"

    # profile
    browser_page.nav("Profile")
    page.wait_for_url(re.compile(r"/account/$"))
    assert page.inner_text("[data-testid=tier]") == "Free"
    assert "chat" in page.inner_text("[data-testid=tools]")
    browser_page.check_page("accounts-profile")

    # API keys: create, see it once, copy it, use it, revoke it
    browser_page.nav("API keys")
    page.wait_for_url(re.compile(r"/account/keys/$"))
    page.fill("#id_name", "laptop")
    page.uncheck("input[name=scopes][value='*']")
    page.check("input[name=scopes][value='chat']")
    page.fill("#id_rate_limit", "120")
    page.click("[data-testid=key-form] button[type=submit]")
    page.wait_for_selector("[data-testid=new-key-value]")
    raw = page.inner_text("[data-testid=new-key-value]").strip()
    assert raw.startswith("nxk_")
    page.click("[data-testid=copy-key]")
    page.wait_for_function("document.querySelector('[data-testid=copy-key]').textContent === 'Copied'")
    assert page.evaluate("navigator.clipboard.readText()") == raw
    assert page.locator("[data-testid=key-row]").count() == 1
    browser_page.check_page("accounts-keys-created")
    api = httpx.Client(base_url=browser_page.base_url, headers={"x-api-key": raw})
    me = api.get("/api/v1/users/me")
    assert me.status_code == 200 and me.json()["email"] == "ada@example.com"
    page.reload()
    assert page.locator("[data-testid=new-key-value]").count() == 0  # shown once only
    assert raw not in page.content()
    page.click("[data-testid=revoke-key]")
    page.wait_for_selector("text=No keys yet")
    assert api.get("/api/v1/users/me").status_code == 401
    assert ApiKey.objects.get(user=user).revoked_at is not None
    browser_page.check_page("accounts-keys-revoked")

    # workspaces and members
    teammate = UserFactory(email="grace@example.com", first_name="Grace", last_name="Hopper")
    browser_page.nav("Workspaces")
    page.wait_for_url(re.compile(r"/workspaces/$"))
    page.fill("#id_name", "Analytical Engine")
    page.fill("#id_description", "Notes and programs")
    page.click("[data-testid=workspace-form] button[type=submit]")
    page.wait_for_selector("[data-testid=members-table]")
    assert page.inner_text("[data-testid=my-role]") == "owner"
    page.fill("[data-testid=member-form] #id_email", teammate.email)
    page.select_option("[data-testid=member-form] #id_role", "admin")
    page.click("[data-testid=member-form] button[type=submit]")
    # People are invited by email (tests/accounts/test_invitations_browser.py follows the mailed link).
    page.wait_for_selector("text=Invitation sent to grace@example.com.")
    assert page.locator("[data-testid=invitation-row]").count() == 1
    assert not WorkspaceMember.objects.filter(user=teammate).exists()
    workspace = Workspace.objects.get(name="Analytical Engine")
    services.workspace_member_add(workspace=workspace, user=user, email=teammate.email, role="admin")
    page.reload()
    assert page.locator("[data-testid=member-row]").count() == 2
    assert WorkspaceMember.objects.get(user=teammate).role == "admin"
    browser_page.check_page("accounts-workspace")
    page.click("[data-testid=remove-member]")
    page.wait_for_selector("text=Member removed.")
    assert page.locator("[data-testid=member-row]").count() == 1
    page.click("text=← Workspaces")
    assert page.locator("[data-testid=workspace-row]").count() == 1
    browser_page.check_page("accounts-workspaces")

    # log out, then log back in
    browser_page.nav("Log out")
    page.wait_for_url(re.compile(r"/login/"))
    browser_page.check_page("accounts-login")
    page.fill("#id_username", "ada@example.com")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(browser_page.base_url + "/")
    assert "ada@example.com" in page.inner_text("header")


def test_key_scope_picker_never_makes_a_narrow_key_full_access(browser_page):
    from apps.accounts.seeds import seed

    seed()  # a transactional test flushes the seeded tiers and roles
    user = UserFactory(email="scopes@example.com")
    user.set_password(PASSWORD)
    user.save()
    page = browser_page.page
    browser_page.goto("/login/")
    page.fill("#id_username", "scopes@example.com")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(browser_page.base_url + "/")
    browser_page.goto("/account/keys/")
    assert page.inner_text("[data-testid=scope-preview] strong") == "no scope yet"
    assert not page.is_checked("input[name=scopes][value='*']")  # nothing is full access by default
    page.fill("#id_name", "narrow")
    page.check("input[name=scopes][value='*']")
    assert page.inner_text("[data-testid=scope-preview] strong") == "* (full access)"
    page.check("input[name=scopes][value='chat']")
    page.check("input[name=scopes][value='knowledge']")
    assert not page.is_checked("input[name=scopes][value='*']")  # choosing a scope unticks full access
    assert page.inner_text("[data-testid=scope-preview] strong") == "chat, knowledge"
    browser_page.check_page("accounts-keys-scope-picker")
    page.click("[data-testid=key-form] button[type=submit]")
    page.wait_for_selector("[data-testid=new-key-value]")
    assert ApiKey.objects.get(user=user, name="narrow").scopes == ["chat", "knowledge"]
    # Ticking "*" again unticks the named scopes.
    page.check("input[name=scopes][value='chat']")
    page.check("input[name=scopes][value='*']")
    assert not page.is_checked("input[name=scopes][value='chat']")
