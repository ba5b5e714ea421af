"""WebSocket Origin check that lets non-browser clients (no Origin header) through.

Channels' AllowedHostsOriginValidator refuses a handshake without an Origin header unless
ALLOWED_HOSTS is `*`. Browsers always send Origin, so the check still stops cross-site pages;
SDKs and CLI clients send none and authenticate with a token (or a cookie a browser would
have paired with an Origin), so refusing them protects nothing.
"""
from __future__ import annotations

from typing import Any

from channels.security.websocket import OriginValidator
from django.conf import settings


class MissingOriginAllowedValidator(OriginValidator):
    """OriginValidator that accepts a handshake without Origin; a present Origin must match ALLOWED_HOSTS."""

    def valid_origin(self, parsed_origin: Any) -> bool:
        """True when there is no Origin (a non-browser client) or it is an allowed host."""
        if parsed_origin is None:
            return True
        return bool(self.validate_origin(parsed_origin))


def allowed_hosts_origin_validator(application: Any) -> MissingOriginAllowedValidator:
    """Like channels' AllowedHostsOriginValidator, but a missing Origin is allowed."""
    allowed_hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return MissingOriginAllowedValidator(application, allowed_hosts)
