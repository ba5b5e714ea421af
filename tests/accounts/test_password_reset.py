"""Password reset by mail (locmem backend): always 202, a one-time link, every login revoked, rate limits, pages."""
from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts.models import RefreshFamily
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OLD = "old-password-123"
NEW = "brand-new-password-456"


def _link(mail: Any) -> tuple[str, str, str]:
    match = re.search(r"(https?://\S+/password-reset/([^/\s]+)/([^/\s]+)/)", mail.body)
    assert match, mail.body
    return match.group(1), match.group(2), match.group(3)


def _user() -> Any:
    user = UserFactory()
    user.set_password(OLD)
    user.save()
    return user


def test_request_is_always_202_and_only_a_real_account_gets_mail(mailoutbox: list[Any]) -> None:
    user = _user()
    client = APIClient()
    unknown = client.post("/api/v1/auth/password-reset", {"email": "nobody@example.com"}, format="json")
    known = client.post("/api/v1/auth/password-reset", {"email": user.email.upper()}, format="json")
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()  # no hint whether the address exists
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [user.email]
    link, _uid, _token = _link(mailoutbox[0])
    assert link.startswith(settings.SITE_URL.rstrip("/") + "/password-reset/")
    assert "60 minutes" in mailoutbox[0].body and settings.PASSWORD_RESET_TIMEOUT == 3600
    bad = client.post("/api/v1/auth/password-reset", {"email": "not-an-email"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"


def test_confirm_changes_the_password_once_and_revokes_every_login(mailoutbox: list[Any]) -> None:
    user = _user()
    api = APIClient()
    pair = api.post("/api/v1/auth/login", {"email": user.email, "password": OLD}, format="json").json()
    browser = Client()
    assert browser.login(username=user.email, password=OLD)
    assert browser.get("/account/").status_code == 200

    api.post("/api/v1/auth/password-reset", {"email": user.email}, format="json")
    _link_url, uid, token = _link(mailoutbox[0])
    weak = api.post("/api/v1/auth/password-reset/confirm", {"uid": uid, "token": token, "new_password": "12345678"}, format="json")
    assert weak.status_code == 400 and "new_password" in weak.json()["error"]["details"]
    done = api.post("/api/v1/auth/password-reset/confirm", {"uid": uid, "token": token, "new_password": NEW}, format="json")
    assert done.status_code == 200, done.json()

    # The token worked once.
    again = api.post("/api/v1/auth/password-reset/confirm", {"uid": uid, "token": token, "new_password": "another-one-789"}, format="json")
    assert again.status_code == 400 and again.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "token" in again.json()["error"]["details"]
    # Every refresh token, access token and session from before is dead.
    assert api.post("/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}, format="json").status_code == 401
    old_access = APIClient()
    old_access.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}")
    assert old_access.get("/api/v1/auth/session").status_code == 401
    assert not RefreshFamily.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert RefreshFamily.objects.get(user=user).revoked_reason == "password-reset"
    assert browser.get("/account/").status_code == 302  # signed out
    # The new password works, the old one does not.
    assert api.post("/api/v1/auth/login", {"email": user.email, "password": OLD}, format="json").status_code == 401
    assert api.post("/api/v1/auth/login", {"email": user.email, "password": NEW}, format="json").status_code == 200


def test_a_forged_or_expired_token_is_refused(mailoutbox: list[Any], settings: Any) -> None:
    user = _user()
    api = APIClient()
    api.post("/api/v1/auth/password-reset", {"email": user.email}, format="json")
    _link_url, uid, token = _link(mailoutbox[0])
    forged = api.post("/api/v1/auth/password-reset/confirm", {"uid": uid, "token": token[:-2] + "xx", "new_password": NEW}, format="json")
    assert forged.status_code == 400
    garbage = api.post("/api/v1/auth/password-reset/confirm", {"uid": "!!", "token": token, "new_password": NEW}, format="json")
    assert garbage.status_code == 400
    settings.PASSWORD_RESET_TIMEOUT = -1  # the link is older than the validity now
    expired = api.post("/api/v1/auth/password-reset/confirm", {"uid": uid, "token": token, "new_password": NEW}, format="json")
    assert expired.status_code == 400
    user.refresh_from_db()
    assert user.check_password(OLD)


def test_requests_are_rate_limited_per_email_and_per_ip(mailoutbox: list[Any], settings: Any) -> None:
    user = _user()
    api = APIClient()
    for _ in range(3):
        assert api.post("/api/v1/auth/password-reset", {"email": user.email}, format="json").status_code == 202
    limited = api.post("/api/v1/auth/password-reset", {"email": user.email}, format="json")
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "RATE_LIMITED" and "Retry-After" in limited
    assert len(mailoutbox) == 3
    # Per IP: other addresses from the same client run out too.
    answers = [api.post("/api/v1/auth/password-reset", {"email": f"x{i}@example.com"}, format="json").status_code for i in range(5)]
    assert answers[-1] == 429


def test_the_dashboard_pages_reset_a_password(mailoutbox: list[Any]) -> None:
    user = _user()
    browser = Client()
    login_page = browser.get("/login/")
    assert "/password-reset/" in login_page.content.decode()
    assert browser.get("/password-reset/").status_code == 200
    sent = browser.post("/password-reset/", {"email": user.email})
    assert sent.status_code == 200 and b"reset-sent" in sent.content
    link, uid, token = _link(mailoutbox[0])
    path = f"/password-reset/{uid}/{token}/"
    assert browser.get(path).status_code == 200
    changed = browser.post(path, {"new_password": NEW})
    assert changed.status_code == 302
    used = browser.get(path)
    assert used.status_code == 400 and b"reset-invalid" in used.content
    assert browser.login(username=user.email, password=NEW)
