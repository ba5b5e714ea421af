"""The in-process cache of API-key lookups: hits save queries, and nothing stale gets through."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts import keycache, services
from apps.accounts.models import ApiKey, Role, Tier, User
from tests.accounts.conftest import jwt_client, key_client

ME = "/api/v1/users/me"
SESSION = "/api/v1/auth/session"


@pytest.fixture(autouse=True)
def empty_key_cache(settings):
    settings.API_KEY_CACHE_SECONDS = 5
    keycache.api_key_cache_clear()
    yield
    keycache.api_key_cache_clear()


def _queries(client, path: str = SESSION) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    return response.status_code, len(captured)


def test_the_second_request_with_a_key_makes_fewer_queries(user, settings):
    client, _raw = key_client(user)
    first_status, first = _queries(client)
    second_status, second = _queries(client)
    assert first_status == second_status == 200
    assert keycache.api_key_cache_size() == 1
    assert second < first
    _, third = _queries(client)
    assert third == second  # from the second request on: no key, user or roles query
    settings.API_KEY_CACHE_SECONDS = 0
    _, uncached = _queries(client)
    assert uncached >= third + 2  # without the cache: the key-and-user lookup and the roles query


def test_a_zero_ttl_disables_the_cache(user, settings):
    settings.API_KEY_CACHE_SECONDS = 0
    client, _raw = key_client(user)
    _queries(client)  # the first use also records last_used_at
    _, second = _queries(client)
    _, third = _queries(client)
    assert second == third and keycache.api_key_cache_size() == 0


def test_a_cached_key_is_401_right_after_revoke(user):
    client, raw = key_client(user)
    assert client.get(ME).status_code == 200
    assert keycache.api_key_cache_size() == 1
    services.api_key_revoke(key=ApiKey.objects.get(prefix=raw[:12]))
    assert client.get(ME).status_code == 401
    assert client.get(ME).status_code == 401  # the refusal is not cached as a success either


def test_a_cached_key_that_expires_is_401(user):
    client, raw = key_client(user, expires_in_days=1)
    assert client.get(ME).status_code == 200
    cached = keycache._entries[keycache.key_digest(raw)]
    names = cached.key_names
    # The key reaches its expiry while its entry is still fresh (no signal, no invalidation).
    cached.key_values = tuple(timezone.now() - timedelta(seconds=1) if n == "expires_at" else v
                              for n, v in zip(names, cached.key_values, strict=True))
    assert client.get(ME).status_code == 401


def test_a_cached_key_of_a_deactivated_or_deleted_user_is_401(user, other_user):
    client, _raw = key_client(user)
    assert client.get(ME).status_code == 200
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert client.get(ME).status_code == 401

    other, _raw = key_client(other_user)
    assert other.get(ME).status_code == 200
    other_user.delete()
    assert other.get(ME).status_code == 401


def test_a_cached_key_sees_a_role_removed_and_a_tier_changed(admin_user):
    client, _raw = key_client(admin_user)
    assert client.get("/api/v1/admin/users").status_code == 200
    body = client.get(SESSION).json()
    assert "admin" in body["roles"] and body["tier"] == "free"
    services.role_remove(user=admin_user, role=Role.objects.get(name="admin"))
    assert client.get("/api/v1/admin/users").status_code == 403
    assert "admin" not in client.get(SESSION).json()["roles"]
    services.user_tier_set(user=User.objects.get(pk=admin_user.pk), tier=Tier.objects.get(slug="pro"))
    assert client.get(SESSION).json()["tier"] == "pro"


def test_a_change_without_a_signal_shows_after_the_ttl(user, settings, monkeypatch):
    """Another process's revoke (here: a queryset update, which sends no signal) is seen within the TTL."""
    settings.API_KEY_CACHE_SECONDS = 1
    now = [1000.0]
    monkeypatch.setattr(keycache, "_clock", lambda: now[0])
    client, raw = key_client(user)
    assert client.get(ME).status_code == 200
    ApiKey.objects.filter(prefix=raw[:12]).update(revoked_at=timezone.now())
    assert client.get(ME).status_code == 200  # still cached: the documented bound
    now[0] += 1.01
    assert client.get(ME).status_code == 401


def test_unknown_and_revoked_keys_are_never_cached(user):
    client, raw = key_client(user)
    services.api_key_revoke(key=ApiKey.objects.get(prefix=raw[:12]))
    assert client.get(ME).status_code == 401
    bad, _ = key_client(user)
    bad.credentials(HTTP_X_API_KEY="nxk_" + "x" * 43)
    assert bad.get(ME).status_code == 401
    assert keycache.api_key_cache_size() == 0


def test_the_cache_is_bounded_least_recently_used_first(user, settings):
    settings.API_KEY_CACHE_MAX_ENTRIES = 2
    clients = [key_client(user) for _ in range(3)]
    for client, _raw in clients:
        assert client.get(ME).status_code == 200
    assert keycache.api_key_cache_size() == 2
    assert keycache.key_digest(clients[0][1]) not in keycache._entries


def test_a_cached_key_still_records_its_use_once_a_minute(user, settings, monkeypatch):
    settings.API_KEY_CACHE_SECONDS = 3600
    client, raw = key_client(user)
    key = ApiKey.objects.get(prefix=raw[:12])
    client.get(ME)
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    client.get(ME)  # a hit within the minute writes nothing
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first
    later = first + timedelta(minutes=2)
    monkeypatch.setattr("apps.accounts.services.timezone.now", lambda: later)
    client.get(ME)  # still a hit, and the stamp moves
    assert keycache.key_digest(raw) in keycache._entries
    assert ApiKey.objects.get(pk=key.pk).last_used_at == later


def test_a_jwt_reads_its_user_through_the_cache_and_sees_changes_at_once(user, other_user):
    client, _pair = jwt_client(user)
    first_status, first = _queries(client)
    second_status, second = _queries(client)
    assert first_status == second_status == 200 and second < first  # no user or roles query once cached
    # A password change revokes the tokens issued before it (simplejwt's check), cached or not.
    user.set_password("a-new-horse-battery-staple")
    user.save(update_fields=["password"])
    refused = client.get(ME)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "UNAUTHORIZED"
    fresh, _pair = jwt_client(User.objects.get(pk=user.pk))
    assert fresh.get(ME).status_code == 200
    user.is_active = False  # deactivation: 401 right away
    user.save(update_fields=["is_active"])
    assert fresh.get(ME).status_code == 401
    other, _pair = jwt_client(other_user)
    assert other.get(ME).status_code == 200
    other_user.delete()  # a deleted user: 401 right away
    assert other.get(ME).status_code == 401


def test_a_verified_access_token_is_not_verified_again_until_it_expires(user):
    """The same token text is verified once; it is refused once expired, and no other text rides on its entry."""
    import time

    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.accounts import authentication

    token = AccessToken.for_user(user)
    token.set_exp(lifetime=timedelta(seconds=2))
    raw = str(token)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(ME).status_code == 200
    assert authentication._validated_tokens.get(raw.encode()) is not None  # verified once, kept by its text
    assert client.get(ME).status_code == 200
    header, payload, signature = raw.split(".")
    tampered = APIClient()
    tampered.credentials(HTTP_AUTHORIZATION=f"Bearer {header}.{payload}.{signature[:-4]}AAAA")
    assert tampered.get(ME).status_code == 401  # a different text is verified on its own
    time.sleep(max(0.0, float(token["exp"]) - time.time()) + 0.1)
    refused = client.get(ME)  # expired: the entry does not outlive the token
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "UNAUTHORIZED"
    assert authentication._validated_tokens.get(raw.encode()) is None


def test_the_verified_token_cache_keeps_at_most_its_bound(user, settings):
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.accounts.authentication import _ValidatedTokens

    settings.API_KEY_CACHE_MAX_ENTRIES = 3
    cache = _ValidatedTokens()
    tokens = [AccessToken.for_user(user) for _ in range(5)]
    for token in tokens:
        cache.put(str(token).encode(), token)
    kept = [cache.get(str(token).encode()) is not None for token in tokens]
    assert kept == [False, False, True, True, True]  # the oldest went first
