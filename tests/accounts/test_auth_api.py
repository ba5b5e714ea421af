"""Sign-up, login, refresh rotation, logout, session, JWT and API key authentication over HTTP."""
from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apps.accounts import services
from apps.accounts.keycache import api_key_cache_clear
from apps.accounts.models import ApiKey, RefreshFamily, User
from tests.accounts.conftest import jwt_client, key_client

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def _envelope(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["request_id"] == response["X-Request-ID"]
    return body["error"]


# ------------------------------------------------------------------------------ sign-up
def test_signup_creates_a_user_with_role_user_and_tier_free(api_client):
    response = api_client.post("/api/v1/auth/signup", {"email": "New@Example.com", "password": "a-long-passphrase-7", "first_name": "Ada"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "new@example.com" and body["first_name"] == "Ada"
    assert body["tier"] == "free" and body["roles"] == ["user"] and "admin" not in body["tools"]
    assert "password" not in body
    assert User.objects.get(email="new@example.com").check_password("a-long-passphrase-7")


def test_signup_with_a_taken_email_is_409_whatever_the_case(api_client, user):
    response = api_client.post("/api/v1/auth/signup", {"email": user.email.upper(), "password": "a-long-passphrase-7"}, format="json")
    _envelope(response, 409, "CONFLICT")


@pytest.mark.parametrize("password", ["short", "password123", "12345678901", "user-signup@example.com"])
def test_signup_with_a_weak_password_is_400_with_field_details(api_client, password):
    response = api_client.post("/api/v1/auth/signup", {"email": "user-signup@example.com", "password": password}, format="json")
    error = _envelope(response, 400, "VALIDATION_ERROR")
    assert error["details"]["password"]
    assert not User.objects.filter(email="user-signup@example.com").exists()


def test_signup_with_bad_fields_is_400(api_client):
    error = _envelope(api_client.post("/api/v1/auth/signup", {"email": "not-an-email"}, format="json"), 400, "VALIDATION_ERROR")
    assert set(error["details"]) == {"email", "password"}


def test_signup_is_limited_per_ip_with_rate_limit_headers(api_client):
    for n in range(10):
        response = api_client.post("/api/v1/auth/signup", {"email": f"s{n}@example.com", "password": "a-long-passphrase-7"}, format="json")
        assert response.status_code == 201
        assert response["X-RateLimit-Limit"] == "10"
    response = api_client.post("/api/v1/auth/signup", {"email": "s11@example.com", "password": "a-long-passphrase-7"}, format="json")
    _envelope(response, 429, "RATE_LIMITED")
    assert int(response["Retry-After"]) >= 1 and response["X-RateLimit-Remaining"] == "0"


# ------------------------------------------------------------------------------ login, refresh, logout
def test_login_returns_a_bearer_pair_that_authenticates(api_client, user):
    response = api_client.post("/api/v1/auth/login", {"email": user.email.upper(), "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    pair = response.json()
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert pair["token_type"] == "bearer" and pair["expires_in"] == settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}")
    session = client.get("/api/v1/auth/session").json()
    assert session["auth_method"] == "jwt" and session["user"]["email"] == user.email


@pytest.mark.parametrize("email,password", [("user-x@example.com", "nope"), ("nobody@example.com", PASSWORD)])
def test_login_with_wrong_credentials_is_401(api_client, user, email, password):
    email = user.email if email == "user-x@example.com" else email
    error = _envelope(api_client.post("/api/v1/auth/login", {"email": email, "password": password}, format="json"), 401, "UNAUTHORIZED")
    assert "password" not in error["details"] if error["details"] else True


def test_login_of_an_inactive_user_is_401(api_client, user):
    User.objects.filter(pk=user.pk).update(is_active=False)
    _envelope(api_client.post("/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json"), 401, "UNAUTHORIZED")


def test_login_is_limited_per_email_across_ips(user):
    for n in range(10):
        client = APIClient(REMOTE_ADDR=f"10.0.0.{n}")
        assert client.post("/api/v1/auth/login", {"email": user.email, "password": "wrong"}, format="json").status_code == 401
    client = APIClient(REMOTE_ADDR="10.0.1.1")
    response = client.post("/api/v1/auth/login", {"email": user.email, "password": PASSWORD}, format="json")
    _envelope(response, 429, "RATE_LIMITED")
    assert "Retry-After" in response


def test_login_is_limited_per_ip_across_emails(db):
    client = APIClient(REMOTE_ADDR="10.9.9.9")
    for n in range(10):
        client.post("/api/v1/auth/login", {"email": f"x{n}@example.com", "password": "wrong"}, format="json")
    _envelope(client.post("/api/v1/auth/login", {"email": "y@example.com", "password": "wrong"}, format="json"), 429, "RATE_LIMITED")


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(api_client, user):
    first = services.token_pair_issue(user=user)
    response = api_client.post("/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]}, format="json")
    assert response.status_code == 200, response.content
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"] and second["token_type"] == "bearer"
    # the old one again: rejected, and the whole login is revoked, including the newest token
    _envelope(api_client.post("/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]}, format="json"), 401, "UNAUTHORIZED")
    assert RefreshFamily.objects.get(user=user).revoked_reason == "reuse"
    _envelope(api_client.post("/api/v1/auth/refresh", {"refresh_token": second["refresh_token"]}, format="json"), 401, "UNAUTHORIZED")
    # another login is unaffected
    third = services.token_pair_issue(user=user)
    assert api_client.post("/api/v1/auth/refresh", {"refresh_token": third["refresh_token"]}, format="json").status_code == 200


@pytest.mark.parametrize("token", ["garbage", "a.b.c", ""])
def test_refresh_with_a_malformed_token_is_an_envelope(api_client, token):
    response = api_client.post("/api/v1/auth/refresh", {"refresh_token": token}, format="json")
    assert response.status_code in (400, 401)
    assert response.json()["error"]["code"] in ("VALIDATION_ERROR", "UNAUTHORIZED")


def test_an_access_token_is_not_a_refresh_token(api_client, user):
    pair = services.token_pair_issue(user=user)
    _envelope(api_client.post("/api/v1/auth/refresh", {"refresh_token": pair["access_token"]}, format="json"), 401, "UNAUTHORIZED")


def test_logout_revokes_the_refresh_token(api_client, user):
    client, pair = jwt_client(user)
    assert client.post("/api/v1/auth/logout", {"refresh_token": pair["refresh_token"]}, format="json").status_code == 204
    _envelope(api_client.post("/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}, format="json"), 401, "UNAUTHORIZED")


def test_logout_ends_the_session(user):
    client = APIClient()
    client.force_login(user)
    assert client.get("/api/v1/auth/session").json()["auth_method"] == "session"
    # the session needs CSRF on unsafe methods; the test client skips that check unless asked
    assert client.post("/api/v1/auth/logout", {}, format="json").status_code == 204
    _envelope(client.get("/api/v1/auth/session"), 401, "UNAUTHORIZED")


def test_changing_the_password_revokes_earlier_jwts(user):
    client, pair = jwt_client(user)
    response = client.patch("/api/v1/users/me", {"password": "a-new-passphrase-9", "current_password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    _envelope(client.get("/api/v1/users/me"), 401, "UNAUTHORIZED")
    _envelope(APIClient().post("/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}, format="json"), 401, "UNAUTHORIZED")


# ------------------------------------------------------------------------------ JWT and key failures
def test_malformed_expired_and_forged_jwts_are_401(user):
    expired = AccessToken.for_user(user)
    expired.set_exp(from_time=timezone.now() - timedelta(hours=1), lifetime=timedelta(minutes=1))
    forged = jwt.encode({"token_type": "access", "user_id": str(user.id), "jti": "x", "exp": 4102444800}, "not-our-signing-key-but-long-enough-0123456789", algorithm="HS256")
    for token in ["garbage", "a.b.c", str(expired), forged]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        error = _envelope(client.get("/api/v1/users/me"), 401, "UNAUTHORIZED")
        assert token not in error["message"]


def test_api_keys_work_in_both_headers(user):
    for header in ("bearer", "x-api-key"):
        client, _raw = key_client(user, header=header)
        body = client.get("/api/v1/auth/session").json()
        assert body["auth_method"] == "api_key" and body["scopes"] == ["*"]


def test_tampered_revoked_and_expired_keys_are_401(user):
    _client, raw = key_client(user)
    tampered = raw[:-2] + ("AA" if not raw.endswith("AA") else "BB")
    key, revoked = services.api_key_create(user=user, name="r", scopes=["*"])
    services.api_key_revoke(key=key)
    old, expired = services.api_key_create(user=user, name="e", scopes=["*"], expires_in_days=1)
    ApiKey.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    for bad in (tampered, revoked, expired, "nxk_", "not-a-key"):
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=bad)
        _envelope(client.get("/api/v1/users/me"), 401, "UNAUTHORIZED")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tampered}")
    _envelope(client.get("/api/v1/users/me"), 401, "UNAUTHORIZED")


def test_a_key_of_an_inactive_user_is_401(user):
    client, _raw = key_client(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    _envelope(client.get("/api/v1/users/me"), 401, "UNAUTHORIZED")


def test_key_scopes_cover_routes_as_documented(user):
    chat_client, _ = key_client(user, scopes=["chat"])
    assert chat_client.get("/api/v1/users/me").status_code == 200  # any key
    assert chat_client.get("/api/v1/auth/session").status_code == 200  # any key
    error = _envelope(chat_client.patch("/api/v1/users/me", {"first_name": "X"}, format="json"), 403, "FORBIDDEN")
    assert error["details"] == {"required_scope": ["*"]}
    _envelope(chat_client.get("/api/v1/keys"), 403, "FORBIDDEN")  # /keys needs *
    _envelope(chat_client.get("/api/v1/workspaces"), 403, "FORBIDDEN")
    full, _ = key_client(user, scopes=["*"])
    assert full.get("/api/v1/keys").status_code == 200
    assert full.patch("/api/v1/users/me", {"first_name": "X"}, format="json").status_code == 200


def test_last_used_at_is_written_at_most_once_a_minute(user):
    client, raw = key_client(user)
    key = ApiKey.objects.get(prefix=raw[:12])
    assert key.last_used_at is None
    client.get("/api/v1/users/me")
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    client.get("/api/v1/users/me")
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(minutes=2))
    api_key_cache_clear()  # a queryset update sends no signal; the cached copy still has `first`
    client.get("/api/v1/users/me")
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first


# ------------------------------------------------------------------------------ the per-caller limit
def test_every_authenticated_route_sends_rate_limit_headers(user):
    for client in (key_client(user)[0], jwt_client(user)[0]):
        for path in ("/api/v1/users/me", "/api/v1/auth/session", "/api/v1/keys", "/api/v1/workspaces"):
            response = client.get(path)
            assert response.status_code == 200
            assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(response.headers), path


def test_the_tier_limit_applies_per_user_and_a_keys_own_limit_overrides_it(user):
    from apps.accounts.models import Tier
    from apps.accounts.policy import policy_cache_clear

    Tier.objects.filter(slug="free").update(api_rpm=3)
    policy_cache_clear()
    try:
        client, _ = jwt_client(user)
        assert [client.get("/api/v1/users/me").status_code for _ in range(3)] == [200] * 3
        response = client.get("/api/v1/users/me")
        _envelope(response, 429, "RATE_LIMITED")
        assert response["X-RateLimit-Limit"] == "3" and response["X-RateLimit-Remaining"] == "0" and int(response["Retry-After"]) >= 1
        # a key with its own rate_limit counts on its own budget
        own, _ = key_client(user, rate_limit=5)
        statuses = [own.get("/api/v1/users/me").status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        assert own.get("/api/v1/users/me")["X-RateLimit-Limit"] == "5"
    finally:
        policy_cache_clear()


def test_session_auth_needs_csrf_on_unsafe_methods(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/api/v1/users/me").status_code == 200
    _envelope(client.patch("/api/v1/users/me", {"first_name": "Eve"}, format="json"), 403, "FORBIDDEN")
    token = client.get("/").cookies["csrftoken"].value  # any page with a form sets the cookie
    response = client.patch("/api/v1/users/me", {"first_name": "Eve"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and response.json()["first_name"] == "Eve"


def test_anonymous_calls_are_401(api_client):
    for path in ("/api/v1/users/me", "/api/v1/auth/session", "/api/v1/keys", "/api/v1/workspaces", "/api/v1/admin/users"):
        _envelope(api_client.get(path), 401, "UNAUTHORIZED")
