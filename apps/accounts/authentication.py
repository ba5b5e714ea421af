"""The three ways to authenticate on /api/v1/: API key, JWT access token, session cookie (with CSRF).

On key authentication `request.auth` is the `ApiKey`; on JWT it is the validated token; on a
session it is None. `auth_method(request)` names which one was used.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from rest_framework import authentication
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from .errors import InvalidApiKey
from .keycache import api_key_cache_note_used, api_key_lookup, user_lookup
from .models import ApiKey
from .services import api_key_touch

KEY_PREFIX = "nxk_"


def raw_api_key(request: Request) -> str | None:
    """The `nxk_` key of the request, from `Authorization: Bearer nxk_...` or `x-api-key`, if any."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        parts = header.split()
        if len(parts) == 2 and parts[0].lower() == "bearer" and parts[1].startswith(KEY_PREFIX):
            return parts[1]
    key = request.META.get("HTTP_X_API_KEY", "").strip()
    return key or None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`nxk_` keys: one indexed SHA-256 digest lookup; revoked, expired or unknown keys answer 401.

    The lookup (key, user, the user's roles) is cached in the process for `API_KEY_CACHE_SECONDS`
    (see `keycache`); expiry and the active flags are checked on every request, hit or miss.
    """

    def authenticate(self, request: Request) -> tuple[Any, ApiKey] | None:
        raw = raw_api_key(request)
        if raw is None:
            return None
        key = api_key_lookup(raw) if raw.startswith(KEY_PREFIX) else None
        if key is None or not key.is_active or not key.user.is_active:
            raise InvalidApiKey()
        last_used = key.last_used_at
        api_key_touch(key=key)
        if key.last_used_at != last_used:
            api_key_cache_note_used(key)
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class _ValidatedTokens:
    """Access tokens this process has verified, by their exact text, until they expire (at most API_KEY_CACHE_MAX_ENTRIES, oldest out first).

    A token's signature and claims are fixed by its text, so a text verified once stays verified
    until its `exp`; access tokens have no blacklist (only refresh tokens do). Verifying again
    (PyJWT's decode, HMAC key preparation included) was 7 % of a JWT-authenticated read.
    """

    def __init__(self) -> None:
        self._entries: dict[bytes, tuple[float, Token]] = {}
        self._lock = threading.Lock()

    def get(self, raw: bytes) -> Token | None:
        entry = self._entries.get(raw)
        if entry is None:
            return None
        if entry[0] <= time.time():
            self._entries.pop(raw, None)
            return None
        return entry[1]

    def put(self, raw: bytes, token: Token) -> None:
        expires = token.get("exp")
        if not isinstance(expires, (int, float)):
            return
        with self._lock:
            while len(self._entries) >= max(1, settings.API_KEY_CACHE_MAX_ENTRIES):
                self._entries.pop(next(iter(self._entries)), None)  # the oldest first
            self._entries[raw] = (float(expires), token)


_validated_tokens = _ValidatedTokens()


class JwtAuthentication(JWTAuthentication):
    """simplejwt access tokens, with one clear 401 message for any bad token.

    The token's user is read through the API keys' short in-process cache (`keycache.user_lookup`):
    a request costs no query for its user. Anything the cached user does not pass (no such user,
    inactive, a password changed since the token was issued) is decided by simplejwt on a fresh read.
    A token text verified once is not verified again until it expires (`_ValidatedTokens`).
    """

    def get_validated_token(self, raw_token: bytes) -> Token:
        token = _validated_tokens.get(raw_token)
        if token is None:
            token = super().get_validated_token(raw_token)
            _validated_tokens.put(raw_token, token)
        return token

    def authenticate(self, request: Request) -> tuple[Any, Token] | None:
        try:
            return super().authenticate(request)
        except InvalidToken as exc:
            raise InvalidToken("The access token is malformed, expired or not valid.") from exc

    def get_user(self, validated_token: Token) -> Any:
        user_id = validated_token.get(jwt_settings.USER_ID_CLAIM)
        user = user_lookup(user_id) if user_id is not None and jwt_settings.USER_ID_FIELD == "id" else None
        if user is None or not user.is_active:
            return super().get_user(validated_token)
        if jwt_settings.CHECK_REVOKE_TOKEN and validated_token.get(jwt_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
            return super().get_user(validated_token)
        return user


class CsrfSessionAuthentication(authentication.SessionAuthentication):
    """The dashboard's session cookie; unsafe methods need the CSRF token (DRF enforces it)."""


def auth_method(request: Request) -> str:
    """How the request was authenticated: api_key, jwt, session, or none."""
    if not getattr(request.user, "is_authenticated", False):
        return "none"
    if isinstance(request.auth, ApiKey):
        return "api_key"
    if isinstance(request.auth, Token):
        return "jwt"
    return "session"
