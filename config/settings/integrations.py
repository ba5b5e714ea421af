"""Integrations (per-user connections, send_email, slack_message) and shared artifacts (links, page, raw HTML)."""
from __future__ import annotations

from .environment import env

__all__ = [
    "EMAIL_SEND_MAX_RECIPIENTS", "EMAIL_SEND_RATE", "SHARING_CSP", "SHARING_MAX_CONTENT_BYTES", "SHARING_PUBLIC_RATE",
    "SLACK_API_URL", "SLACK_TIMEOUT_SECONDS",
]

# Slack Web API base (slack-sdk's base_url); tests point it at a loopback fake. Keep the trailing slash.
SLACK_API_URL = env("SLACK_API_URL", default="https://slack.com/api/")
SLACK_TIMEOUT_SECONDS = env.int("SLACK_TIMEOUT_SECONDS", default=15)
# send_email goes through the platform's mail backend (EMAIL_URL): bounded so a model cannot spam.
EMAIL_SEND_MAX_RECIPIENTS = env.int("EMAIL_SEND_MAX_RECIPIENTS", default=10)
EMAIL_SEND_RATE = env("EMAIL_SEND_RATE", default="20/h")
# Shared artifacts: largest content (UTF-8 bytes, 413 above) and reads of public links per client IP.
SHARING_MAX_CONTENT_BYTES = env.int("SHARING_MAX_CONTENT_BYTES", default=1024 * 1024)
SHARING_PUBLIC_RATE = env("SHARING_PUBLIC_RATE", default="120/m")
# Shared HTML runs in an opaque origin (`sandbox` without allow-same-origin): it can neither read the
# platform's cookies nor call its API with the visitor's session, and it can only be framed by Nexus.
SHARING_CSP = env(
    "SHARING_CSP",
    default=("sandbox allow-scripts allow-popups allow-modals; default-src 'none'; script-src 'unsafe-inline'; "
             "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; connect-src 'none'; frame-ancestors 'self'; "
             "form-action 'none'; base-uri 'none'"),
)
