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


# One round trip per request, whatever number of limits it counts against: django-ratelimit's
# get_usage takes three per limit (SET NX, EXISTS, INCR; 22 % of a keyed read's samples in a
# profile). Same keys, windows and stored values as get_usage; ARGV[i] is KEYS[i]'s time to live.
_INCR_LUA = """
local counts = {}
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('EXPIRE', key, ARGV[i]) end
  counts[i] = count
end
return counts
"""


@dataclass(frozen=True)
class Limit:
    """One limit a request counts against: `rate` ("100/m") for `key` in `group`."""

    group: str
    key: str
    rate: str


# The same counts, then, only when no limit refuses, one concurrency slot taken as
# accounts.limits.concurrency_slot takes it (a sorted set scored by start time, Redis's clock).
# KEYS: the n counters, then the slot's set; ARGV: n times to live, n allowed counts, then the
# slot's time to live, its limit and its token. Returns the n counts and 1 if the slot was taken.
_INCR_AND_SLOT_LUA = """
local n = #KEYS - 1
local out = {}
local refused = false
for i = 1, n do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('EXPIRE', KEYS[i], ARGV[i]) end
  out[i] = count
  if count > tonumber(ARGV[n + i]) then refused = true end
end
out[n + 1] = 0
if not refused then
  local slots, ttl = KEYS[n + 1], tonumber(ARGV[2 * n + 1])
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  redis.call('ZREMRANGEBYSCORE', slots, '-inf', now - ttl)
  if redis.call('ZCARD', slots) < tonumber(ARGV[2 * n + 2]) then
    redis.call('ZADD', slots, now, ARGV[2 * n + 3])
    redis.call('EXPIRE', slots, ttl)
    out[n + 1] = 1
  end
end
return out
"""


@dataclass(frozen=True)
class SlotClaim:
    """A concurrency slot to take in the round trip that counts a request's limits (`accounts.limits.concurrency_slot`)."""

    key: str
    ttl: int
    limit: int
    token: str


def _counts(limits: list[Limit], slot: SlotClaim | None = None) -> tuple[list[dict[str, int]], bool]:
    """Add one to each limit's counter for its current window, and take `slot` if none refuses (one Redis call).

    The usages are what django-ratelimit's get_usage(increment=True) returns; the flag says whether the slot was taken.
    """
    keys: list[str] = []
    ttls: list[int] = []
    shapes: list[tuple[int, int]] = []
    for limit in limits:
        allowed, period = _split_rate(limit.rate)
        window = _get_window(limit.key, period)
        keys.append(cache.make_and_validate_key(_make_cache_key(limit.group, window, limit.rate, limit.key, None)))
        ttls.append(period + EXPIRATION_FUDGE)
        shapes.append((allowed, window))
    # The cache lives at REDIS_URL too, on this same client's pool (apps.core.cache).
    if slot is None:
        counts, taken = redis_script(redis_sync(), _INCR_LUA)(keys=keys, args=ttls), False
    else:
        *counts, taken = redis_script(redis_sync(), _INCR_AND_SLOT_LUA)(
            keys=[*keys, slot.key], args=[*ttls, *(allowed for allowed, _ in shapes), slot.ttl, slot.limit, slot.token])
    now = int(time.time())
    return ([{"count": int(count), "limit": allowed, "should_limit": int(count) > allowed, "time_left": window - now}
             for count, (allowed, window) in zip(counts, shapes, strict=True)], bool(taken))


def _http_request(request: HttpRequest | Request) -> HttpRequest:
    return request._request if isinstance(request, Request) else request


def ratelimit_count(*, group: str, key: str, rate: str) -> RateLimitState | None:
    """Count one action for `key` in `group` against `rate` ("20/h") outside a request; raise RateLimited past it.

    For limits on what a service does (mails sent by a tool, say) rather than on HTTP requests: the
    same one-round-trip count as `ratelimit_hits`, with no request to record on. Redis being
    unreachable fails open (None), as in `ratelimit_hit`.
    """
    states = _limits_counted([Limit(group, key, rate)], record_on=None)
    return states[0] if states else None


def ratelimit_hit(request: HttpRequest | Request, *, group: str, key: str, rate: str, record: bool = True) -> RateLimitState | None:
    """Count one request for `key` in `group` against `rate` ("100/m"); raise RateLimited past it.

    When several limits apply to one request, the tightest one is what the headers show.
    Redis being unreachable fails open (logged): limits protect the platform, they must not
    take it down.
    """
    states = ratelimit_hits(request, [Limit(group, key, rate)], record=record)
    return states[0] if states else None


def ratelimit_hits(request: HttpRequest | Request, limits: list[Limit], *, record: bool = True) -> list[RateLimitState]:
    """Count one request against each of `limits` in one Redis round trip; raise RateLimited past any of them.

    Every limit is counted, also when another refuses (one by one, a refusal left the limits after it
    uncounted). Empty when Redis is unreachable.
    """
    return _limits_counted(limits, record_on=_http_request(request) if record else None)


def ratelimit_hits_and_slot(request: HttpRequest | Request, limits: list[Limit], *, slot: SlotClaim) -> bool | None:
    """`ratelimit_hits`, and in the same round trip `slot` taken if no limit refuses.

    True: taken; False: every slot is in use; None: Redis is unreachable (not limited, as in `ratelimit_hits`).
    """
    taken: list[bool] = []
    _limits_counted(limits, record_on=_http_request(request), slot=slot, taken=taken)
    return taken[0] if taken else None


def _limits_counted(limits: list[Limit], *, record_on: HttpRequest | None, slot: SlotClaim | None = None,
                    taken: list[bool] | None = None) -> list[RateLimitState]:
    """Count one against each limit (one Redis call); keep the tightest state on `record_on`; raise past the first refusal.

    With `slot`, whether it was taken is appended to `taken`. Empty when Redis is unreachable:
    limits protect the platform, they must not take it down.
    """
    if not limits and slot is None:
        return []
    try:
        usages, slot_taken = _counts(limits, slot)
    except Exception:  # the cache is down: serve (or act), but say so in the logs
        logger.warning("Rate limit store unavailable; not limiting %s", ", ".join(limit.group for limit in limits) or "a slot")
        return []
    if taken is not None:
        taken.append(slot_taken)
    states: list[RateLimitState] = []
    refused: tuple[Limit, int] | None = None
    now = int(time.time())
    for limit, usage in zip(limits, usages, strict=True):
        allowed = int(usage["limit"])
        time_left = max(1, int(usage["time_left"]))
        state = RateLimitState(limit=allowed, remaining=max(0, allowed - int(usage["count"])), reset=now + time_left)
        states.append(state)
        if record_on is not None:
            current: RateLimitState | None = getattr(record_on, "ratelimit_state", None)
            if current is None or state.remaining < current.remaining:
                record_on.ratelimit_state = state  # type: ignore[attr-defined]  # our own attribute, read by the headers middleware
        if usage["should_limit"] and refused is None:
            refused = (limit, time_left)
    if refused is not None:
        limit, time_left = refused
        raise RateLimited(f"Rate limit of {limit.rate} exceeded; retry in {time_left} s.", retry_after=time_left)
    return states
