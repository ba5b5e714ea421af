"""Accounts: JWT lifetimes and rotation, sign-up/login rates, tier policy and API-key caches."""
from __future__ import annotations

from datetime import timedelta

from .environment import env
from .general import SECRET_KEY

__all__ = [
    "API_KEY_CACHE_MAX_ENTRIES", "API_KEY_CACHE_SECONDS", "AUTH_RATE_PER_EMAIL", "AUTH_RATE_PER_IP",
    "CONCURRENCY_SLOT_TTL_SECONDS", "SIMPLE_JWT", "TIER_POLICY_CACHE_SECONDS",
]

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=14)),
    # Each refresh returns a new refresh token and blacklists the old one; reuse revokes the family.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,  # the login service records last_login itself
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    # Changing the password invalidates every token issued before.
    "CHECK_REVOKE_TOKEN": True,
}

# Sign-up and login attempts per minute, counted per client IP and per email address.
AUTH_RATE_PER_IP = env("AUTH_RATE_PER_IP", default="10/m")
AUTH_RATE_PER_EMAIL = env("AUTH_RATE_PER_EMAIL", default="10/m")
# Seconds a tier's policy is cached in each process (admin edits show up after at most this long).
TIER_POLICY_CACHE_SECONDS = env.int("TIER_POLICY_CACHE_SECONDS", default=30)
# Seconds an API-key lookup (key, user, roles) is cached in each process; 0 disables. Revoking a key or
# changing its user applies at once in the process that made the change, in others within this time.
API_KEY_CACHE_SECONDS = env.int("API_KEY_CACHE_SECONDS", default=5)
API_KEY_CACHE_MAX_ENTRIES = env.int("API_KEY_CACHE_MAX_ENTRIES", default=10_000)
# A concurrency slot not released within this many seconds (a crashed process) frees itself.
CONCURRENCY_SLOT_TTL_SECONDS = env.int("CONCURRENCY_SLOT_TTL_SECONDS", default=20 * 60)
