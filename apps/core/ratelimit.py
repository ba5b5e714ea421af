"""Rate limiting on django-ratelimit with the Redis cache, and the headers API.md asks for.

`ratelimit_hit` counts one request against a limit, records the state on the request (the
middleware turns it into `X-RateLimit-*` headers on whatever answer follows) and raises
`RateLimited` (429 with `Retry-After`) when the limit is passed. Counters live in Redis, so they
hold across processes.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.http import HttpRequest
from django_ratelimit.core import EXPIRATION_FUDGE, _get_window, _make_cache_key, _split_rate
from rest_framework.request import Request

from .errors import RateLimited
from .redis_client import redis_script, redis_sync

logger = logging.getLogger("nexus.ratelimit")


@dataclass(frozen=True)
class RateLimitState:
    """Where a caller stands against one limit."""

    limit: int
    remaining: int
    reset: int  # unix seconds when the window ends

    def headers(self) -> dict[str, str]:
        """The X-RateLimit-* headers for this state."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


# One round trip per counted request: django-ratelimit's get_usage takes three (SET NX, EXISTS, INCR;
# 22 % of a keyed read's samples in a profile). Same keys, window and stored value as get_usage.
_INCR_LUA = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


def _incr(cache_key: str, ttl: int) -> int:
    # The cache lives at REDIS_URL too, on this same client's pool (apps.core.cache).
    return int(redis_script(redis_sync(), _INCR_LUA)(keys=[cache_key], args=[ttl]))


def _count(*, group: str, key: str, rate: str) -> dict[str, int]:
    """Add one to the caller's counter for the current window; what get_usage(increment=True) returns."""
    limit, period = _split_rate(rate)
    window = _get_window(key, period)
    cache_key = cache.make_and_validate_key(_make_cache_key(group, window, rate, key, None))
    count = _incr(cache_key, period + EXPIRATION_FUDGE)
    return {"count": count, "limit": limit, "should_limit": count > limit, "time_left": window - int(time.time())}


def _http_request(request: HttpRequest | Request) -> HttpRequest:
    return request._request if isinstance(request, Request) else request


def ratelimit_count(*, group: str, key: str, rate: str) -> RateLimitState | None:
    """Count one action for `key` in `group` against `rate` ("20/h") outside a request; raise RateLimited past it.

    For limits on what a service does (mails sent by a tool, say) rather than on HTTP requests;
    Redis being unreachable fails open, as in `ratelimit_hit`.
    """
    try:
        usage = _count(group=group, key=key, rate=rate)
    except Exception:  # the cache is down: act, but say so in the logs
        logger.warning("Rate limit store unavailable; not limiting %s", group)
        return None
    limit = int(usage["limit"])
    time_left = max(1, int(usage["time_left"]))
    if usage["should_limit"]:
        raise RateLimited(f"Rate limit of {rate} exceeded; retry in {time_left} s.", retry_after=time_left)
    return RateLimitState(limit=limit, remaining=max(0, limit - int(usage["count"])), reset=int(time.time()) + time_left)


def ratelimit_hit(request: HttpRequest | Request, *, group: str, key: str, rate: str, record: bool = True) -> RateLimitState | None:
    """Count one request for `key` in `group` against `rate` ("100/m"); raise RateLimited past it.

    When several limits apply to one request, the tightest one is what the headers show.
    Redis being unreachable fails open (logged): limits protect the platform, they must not
    take it down.
    """
    http_request = _http_request(request)
    try:
        usage = _count(group=group, key=key, rate=rate)
    except Exception:  # the cache is down: serve, but say so in the logs
        logger.warning("Rate limit store unavailable; not limiting %s", group)
        return None
    limit = int(usage["limit"])
    time_left = max(1, int(usage["time_left"]))
    state = RateLimitState(limit=limit, remaining=max(0, limit - int(usage["count"])), reset=int(time.time()) + time_left)
    if record:
        current: RateLimitState | None = getattr(http_request, "ratelimit_state", None)
        if current is None or state.remaining < current.remaining:
            http_request.ratelimit_state = state  # type: ignore[attr-defined]  # our own attribute, read by the headers middleware
    if usage["should_limit"]:
        raise RateLimited(f"Rate limit of {rate} exceeded; retry in {time_left} s.", retry_after=time_left)
    return state
