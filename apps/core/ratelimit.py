"""Rate limiting on django-ratelimit with the Redis cache, and the headers API.md asks for.

`ratelimit_hit` counts one request against a limit, records the state on the request (the
middleware turns it into `X-RateLimit-*` headers on whatever answer follows) and raises
`RateLimited` (429 with `Retry-After`) when the limit is passed. Counters live in Redis, so they
hold across processes.
"""
from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from django_ratelimit.core import EXPIRATION_FUDGE, _get_window, _make_cache_key, _split_rate
from rest_framework.request import Request

from .errors import RateLimited
from .redis_client import redis_script, redis_script_together, redis_sync

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


# The same counting, then one slot in a sorted set taken (unless a limit refused): KEYS are the n
# counters, then the slot set; ARGV the n times to live, the n allowed counts, then the slot's time
# to live, the most slots, and this holder's token. Expired slots are dropped first, timed by
# Redis's own clock. Returns the n counts and 1 when the slot was taken, else 0. With no counters,
# it only takes a slot (accounts.limits.concurrency_slot).
LIMITS_THEN_SLOT_LUA = """
local n = #KEYS - 1
local counts = {}
local refused = false
for i = 1, n do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('EXPIRE', KEYS[i], ARGV[i]) end
  counts[i] = count
  if count > tonumber(ARGV[n + i]) then refused = true end
end
local taken = 0
if not refused then
  local slots, ttl, most = KEYS[n + 1], tonumber(ARGV[2 * n + 1]), tonumber(ARGV[2 * n + 2])
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  redis.call('ZREMRANGEBYSCORE', slots, '-inf', now - ttl)
  if redis.call('ZCARD', slots) < most then
    redis.call('ZADD', slots, now, ARGV[2 * n + 3])
    redis.call('EXPIRE', slots, ttl)
    taken = 1
  end
end
counts[n + 1] = taken
return counts
"""


@dataclass(frozen=True)
class Slot:
    """One of `most` slots in the sorted set `key`, held by `token` for at most `ttl` seconds (see LIMITS_THEN_SLOT_LUA)."""

    key: str
    most: int
    token: str
    ttl: int

    def script_args(self) -> list[Any]:
        """The slot's part of LIMITS_THEN_SLOT_LUA's ARGV."""
        return [self.ttl, self.most, self.token]


@dataclass(frozen=True)
class Limit:
    """One limit a request counts against: `rate` ("100/m") for `key` in `group`."""

    group: str
    key: str
    rate: str


@functools.cache
def _key_maker() -> Callable[[str], str]:
    # The cache's own key function, from one backend object: Django keeps a cache object per thread
    # and per async context, and on the event loop every request would build one for this.
    return caches.create_connection(DEFAULT_CACHE_ALIAS).make_and_validate_key


@receiver(setting_changed)
def _caches_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "CACHES":
        _key_maker.cache_clear()


def _count_keys(limits: list[Limit]) -> tuple[list[str], list[int], list[tuple[int, int]]]:
    """Each limit's counter key for its current window, its time to live, and (allowed, window)."""
    keys: list[str] = []
    ttls: list[int] = []
    shapes: list[tuple[int, int]] = []
    for limit in limits:
        allowed, period = _split_rate(limit.rate)
        window = _get_window(limit.key, period)
        keys.append(_key_maker()(_make_cache_key(limit.group, window, limit.rate, limit.key, None)))
        ttls.append(period + EXPIRATION_FUDGE)
        shapes.append((allowed, window))
    return keys, ttls, shapes


def _usages(counts: list[int], shapes: list[tuple[int, int]]) -> list[dict[str, int]]:
    """What get_usage(increment=True) returns, for each counted limit."""
    now = int(time.time())
    return [{"count": int(count), "limit": allowed, "should_limit": int(count) > allowed, "time_left": window - now}
            for count, (allowed, window) in zip(counts, shapes, strict=True)]


def _counts(limits: list[Limit]) -> list[dict[str, int]]:
    """Add one to each limit's counter for its current window (one Redis call); what get_usage(increment=True) returns."""
    keys, ttls, shapes = _count_keys(limits)
    # The cache lives at REDIS_URL too, on this same client's pool (apps.core.cache).
    return _usages(redis_script(redis_sync(), _INCR_LUA)(keys=keys, args=ttls), shapes)


async def _acounts(limits: list[Limit]) -> list[dict[str, int]]:
    """`_counts` on the running loop's Redis client."""
    keys, ttls, shapes = _count_keys(limits)
    return _usages(await redis_script_together(_INCR_LUA, keys=keys, args=ttls), shapes)


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


async def aratelimit_hits(request: HttpRequest | Request, limits: list[Limit], *, record: bool = True) -> list[RateLimitState]:
    """`ratelimit_hits` from async code: the same one round trip, on the loop's Redis client (no thread)."""
    if not limits:
        return []
    try:
        usages = await _acounts(limits)
    except Exception:  # the cache is down: serve, but say so in the logs
        logger.warning("Rate limit store unavailable; not limiting %s", ", ".join(limit.group for limit in limits))
        return []
    return _states(limits, usages, record_on=_http_request(request) if record else None)


async def alimits_then_slot(request: HttpRequest | Request, limits: list[Limit], slot: Slot) -> bool | None:
    """Count `limits` as `aratelimit_hits` does and, unless one refuses, take `slot`: one Redis script, one round trip.

    Raises RateLimited past a limit (no slot is taken then). True when the slot was taken, False when
    all are in use, None when Redis is unreachable (nothing limited, nothing taken; logged).
    """
    keys, ttls, shapes = _count_keys(limits)
    try:
        counts = await redis_script_together(LIMITS_THEN_SLOT_LUA, keys=[*keys, slot.key],
                                             args=[*ttls, *(allowed for allowed, _ in shapes), *slot.script_args()])
    except Exception:  # the store is down: serve, but say so in the logs
        logger.warning("Rate limit store unavailable; not limiting %s", ", ".join([*(limit.group for limit in limits), slot.key]))
        return None
    _states(limits, _usages(counts[:-1], shapes), record_on=_http_request(request))
    return bool(counts[-1])


def _limits_counted(limits: list[Limit], *, record_on: HttpRequest | None) -> list[RateLimitState]:
    """Count one against each limit (one Redis call); keep the tightest state on `record_on`; raise past the first refusal.

    Empty when Redis is unreachable: limits protect the platform, they must not take it down.
    """
    if not limits:
        return []
    try:
        usages = _counts(limits)
    except Exception:  # the cache is down: serve (or act), but say so in the logs
        logger.warning("Rate limit store unavailable; not limiting %s", ", ".join(limit.group for limit in limits))
        return []
    return _states(limits, usages, record_on=record_on)


def _states(limits: list[Limit], usages: list[dict[str, int]], *, record_on: HttpRequest | None) -> list[RateLimitState]:
    """Where the caller stands against each counted limit; the tightest kept on `record_on`; RateLimited past any."""
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
