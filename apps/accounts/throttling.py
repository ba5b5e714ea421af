"""The default per-caller rate limit on every authenticated /api/v1/ route (X-RateLimit-* headers)."""
from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from apps.core.ratelimit import ratelimit_hit

from .models import ApiKey
from .policy import tier_policy


class TierRateThrottle(BaseThrottle):
    """Counts each authenticated request against the key's own `rate_limit` or the tier's `api_rpm`.

    Raises RateLimited (429 envelope with Retry-After) past the limit; anonymous requests pass
    (sign-up and login limit themselves per IP and email).
    """

    def allow_request(self, request: Request, view: Any) -> bool:
        user = request.user
        if not getattr(user, "is_authenticated", False):
            return True
        key = request.auth
        if isinstance(key, ApiKey) and key.rate_limit:
            ratelimit_hit(request, group="api-key", key=str(key.pk), rate=f"{key.rate_limit}/m")
        else:
            ratelimit_hit(request, group="api-user", key=str(user.pk), rate=f"{tier_policy(user).api_rpm}/m")
        return True
