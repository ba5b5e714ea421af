"""SSO_REQUIRED: password log-in and sign-up are refused, except a superuser's password log-in."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-good-password-123"


def _user(**extra: Any) -> Any:
    user = UserFactory(**extra)
    user.set_password(PASSWORD)
    user.save()
    return user


def test_password_log_in_and_sign_up_are_refused_when_sso_is_required(settings: Any) -> None:
    user, admin = _user(), _user(is_superuser=True, is_staff=True)
    api = APIClient()
    assert api.post("/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json").status_code == 200
    settings.SSO_REQUIRED = True
    refused = api.post("/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
    assert "single sign-on" in refused.json()["error"]["message"]
    # A wrong password is still 401 (the SSO rule says nothing about an account it has not authenticated).
    assert api.post("/api/v1/auth/login", {"email": user.email, "password": "wrong-one-123"}, format="json").status_code == 401
    signup = api.post("/api/v1/auth/signup", {"email": "new@example.com", "password": PASSWORD}, format="json")
    assert signup.status_code == 403
    assert api.post("/api/v1/auth/login", {"email": admin.email, "password": PASSWORD}, format="json").status_code == 200

    browser = Client()
    page = browser.post("/login/", {"username": user.email, "password": PASSWORD})
    assert page.status_code == 200 and "single sign-on" in page.content.decode()
    assert browser.get("/account/").status_code == 302
    assert browser.post("/login/", {"username": admin.email, "password": PASSWORD}).status_code == 302
