"""Accounts: JWT lifetimes and rotation, sign-up/login rates, tier policy and API-key caches."""
from __future__ import annotations

from datetime import timedelta

from .environment import env
from .general import SECRET_KEY

__all__ = [
    "API_KEY_CACHE_MAX_ENTRIES", "API_KEY_CACHE_SECONDS", "AUTH_RATE_PER_EMAIL", "AUTH_RATE_PER_IP",
    "ACCOUNT_EMAIL_VERIFICATION", "ACCOUNT_LOGIN_METHODS", "ACCOUNT_SIGNUP_FIELDS", "ACCOUNT_USER_MODEL_USERNAME_FIELD",
    "AUTHENTICATION_BACKENDS", "SOCIALACCOUNT_AUTO_SIGNUP", "SOCIALACCOUNT_EMAIL_AUTHENTICATION",
    "SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT", "SOCIALACCOUNT_LOGIN_ON_GET", "SOCIALACCOUNT_ONLY", "SOCIALACCOUNT_PROVIDERS",
    "SOCIALACCOUNT_STORE_TOKENS", "SSO_REQUIRED", "WORKSPACE_INVITATION_DAYS", "WORKSPACE_INVITATION_RATE", "CONCURRENCY_SLOT_TTL_SECONDS", "DEFAULT_FROM_EMAIL", "EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_HOST_PASSWORD",
    "EMAIL_FILE_PATH", "EMAIL_HOST_USER", "EMAIL_PORT", "EMAIL_TIMEOUT", "EMAIL_USE_SSL", "EMAIL_USE_TLS", "PASSWORD_RESET_RATE_PER_EMAIL",
    "PASSWORD_RESET_RATE_PER_IP", "PASSWORD_RESET_TIMEOUT", "SERVER_EMAIL", "SIMPLE_JWT", "TIER_POLICY_CACHE_SECONDS",
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

# Mail (password reset links, workspace invitations): EMAIL_URL such as smtp+tls://user:password@smtp.example.com:587; the
# default prints mails on the console of the process that sends them (the worker under `make run`).
_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS", False))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL", False))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
# filemail:////var/mail/nexus writes each mail to a file there (a host without a mail server; the browser tests).
EMAIL_FILE_PATH = _email.get("EMAIL_FILE_PATH") or ""
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Nexus <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# A password reset link works once, for this many seconds.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3600)
# Reset requests per minute, counted per client IP and per email address (the answer is 202 either way).
PASSWORD_RESET_RATE_PER_IP = env("PASSWORD_RESET_RATE_PER_IP", default="5/m")
PASSWORD_RESET_RATE_PER_EMAIL = env("PASSWORD_RESET_RATE_PER_EMAIL", default="3/h")
# A workspace invitation's mailed link works for this many days (a re-send starts the time again).
WORKSPACE_INVITATION_DAYS = env.int("WORKSPACE_INVITATION_DAYS", default=7)
# Invitations one person may send (each is a mail to any address), counted per inviting user.
WORKSPACE_INVITATION_RATE = env("WORKSPACE_INVITATION_RATE", default="50/h")

# Single sign-on through django-allauth: any OpenID Connect provider (Google, Microsoft, Keycloak,
# Authentik, Okta) from OIDC_*, and GitHub from GITHUB_*; the log-in page shows a button for each.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None  # users sign in by email
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "none"  # the identity provider vouches for the address
# Only allauth's social-login views: sign-up, log-in and password reset stay Nexus's own (limits, validators).
SOCIALACCOUNT_ONLY = True
SOCIALACCOUNT_AUTO_SIGNUP = True  # first sign-in creates the user (default role and tier, as any new user)
SOCIALACCOUNT_LOGIN_ON_GET = True  # the button is a link; the provider's own consent screen is the confirmation
# An existing account is linked only when the provider says the email is verified.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_STORE_TOKENS = False
# Everyone but superusers must sign in through single sign-on: password log-in and sign-up answer 403
# (superusers keep their password, so a broken identity provider cannot lock the admins out).
SSO_REQUIRED = env.bool("SSO_REQUIRED", default=False)
SOCIALACCOUNT_PROVIDERS: dict[str, dict[str, object]] = {}
if env("OIDC_CLIENT_ID", default=""):
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {
        "APPS": [{
            "provider_id": env("OIDC_PROVIDER_ID", default="oidc"),
            "name": env("OIDC_NAME", default="Single sign-on"),
            "client_id": env("OIDC_CLIENT_ID"),
            "secret": env("OIDC_CLIENT_SECRET", default=""),
            "settings": {"server_url": env("OIDC_SERVER_URL"), "scope": ["openid", "profile", "email"]},
        }],
    }
if env("GITHUB_CLIENT_ID", default=""):
    SOCIALACCOUNT_PROVIDERS["github"] = {
        "APPS": [{"client_id": env("GITHUB_CLIENT_ID"), "secret": env("GITHUB_CLIENT_SECRET", default="")}],
        "SCOPE": ["user:email"],
    }
