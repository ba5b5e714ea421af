"""The default per-caller rate limit on every authenticated /api/v1/ route (X-RateLimit-* headers)."""
from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from apps.core.ratelimit import Limit, ratelimit_hits

from .limits import kind_limit
from .models import ApiKey
from .policy import tier_policy


class TierRateThrottle(BaseThrottle):
    """Counts each authenticated request against the key's own `rate_limit` or the tier's `api_rpm`.

    Raises RateLimited (429 envelope with Retry-After) past the limit; anonymous requests pass
    (sign-up and login limit themselves per IP and email). A view's `rate_kinds` adds its kind's
    per-minute limit (chat, compare, architect) to the same count.
    """

    def allow_request(self, request: Request, view: Any) -> bool:
        ratelimit_hits(request, self.limits(request, view))
        return True

    def limits(self, request: Request, view: Any = None) -> list[Limit]:
        """What this throttle counts: the per-minute API limit and, where the view names one, its kind's limit.

        A view's `rate_kinds` maps a method to the kind of call it is (`{"POST": "chat"}`): that
        kind's per-minute tier limit is counted in the same Redis round trip as the API limit,
        not in a second one from the view. The gateway counts these with its own.
        """
        limit = api_limit(request)
        if limit is None:
            return []
        kind = getattr(view, "rate_kinds", {}).get(request.method)
        return [limit, kind_limit(request, kind=kind)] if kind else [limit]


def api_limit(request: Request) -> Limit | None:
    """The per-minute limit every authenticated request counts against (None for anonymous ones)."""
    user = request.user
    if not getattr(user, "is_authenticated", False):
        return None
    key = request.auth
    if isinstance(key, ApiKey) and key.rate_limit:
        return Limit("api-key", str(key.pk), f"{key.rate_limit}/m")
    return Limit("api-user", str(user.pk), f"{tier_policy(user).api_rpm}/m")
