"""Per-user limits from the tier policy: requests per minute, hourly quotas, concurrent runs.

- `kind_limit(request, kind="chat")`: the tier's per-minute limit for that kind of call. Views
  name theirs in `rate_kinds` and the default throttle counts it with the API limit (one Redis
  call); `rate_check(request, kind=)` counts it alone, for views that must check something first.
- `concurrency_slot(user=..., kind="chat", limit=policy.chat_concurrent)`: a sync *and* async
  context manager holding one of `limit` slots while a stream or run is going; a full set raises
  RateLimited. Slots live in a Redis sorted set, each scored with its start time, so they hold
  across processes, and a slot a crashed process never released expires after
  `CONCURRENCY_SLOT_TTL_SECONDS` (long runs call `touch()` to keep theirs).
- `hourly_quota_check` / `hourly_quota_add`: amounts per clock hour (tokens, prompts).

Redis being unreachable fails open (logged), like `apps.core.ratelimit`: limits protect the
platform and must not take it down.
"""
from __future__ import annotations

import logging
import time
import uuid
from types import TracebackType
from typing import TYPE_CHECKING

import redis
from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request

from apps.core.errors import RateLimited, ServiceUnavailable, outage_of
from apps.core.ratelimit import LIMITS_THEN_SLOT_LUA, Limit, RateLimitState, Slot, alimits_then_slot, ratelimit_hits
from apps.core.redis_client import redis_async, redis_script, redis_script_together, redis_sync, redis_together

from .policy import tier_policy

if TYPE_CHECKING:
    from .models import User

logger = logging.getLogger("nexus.limits")

_TOUCH_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZADD', KEYS[1], 'XX', now, ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""



def slot_key(*, user: User, kind: str) -> str:
    """The Redis key of a user's slots of one kind."""
    return f"nexus:slots:{kind}:{user.pk}"


def _full(kind: str, limit: int) -> RateLimited:
    return RateLimited(
        f"You already have {limit} {kind} run(s) going; wait for one to finish.",
        retry_after=5,
        details={"kind": [kind], "limit": [str(limit)]},
    )


class concurrency_slot:  # noqa: N801 - used like a function: `with concurrency_slot(...)`
    """Hold one of `limit` concurrent slots of `kind` for `user` (sync or async `with`)."""

    def __init__(self, *, user: User, kind: str, limit: int, ttl: int | None = None) -> None:
        self.key = slot_key(user=user, kind=kind)
        self.kind = kind
        self.limit = int(limit)
        self.ttl = int(ttl or settings.CONCURRENCY_SLOT_TTL_SECONDS)
        self.token = uuid.uuid4().hex
        self.held = False

    def _slot(self) -> Slot:
        return Slot(key=self.key, most=self.limit, token=self.token, ttl=self.ttl)

    # sync
    def __enter__(self) -> concurrency_slot:
        try:
            acquired = redis_script(redis_sync(), LIMITS_THEN_SLOT_LUA)(keys=[self.key], args=self._slot().script_args())[-1]
        except redis.RedisError:
            logger.warning("Slot store unavailable; not limiting %s", self.kind)
            return self
        if not acquired:
            raise _full(self.kind, self.limit)
        self.held = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.held:
            try:
                redis_sync().zrem(self.key, self.token)
            except redis.RedisError:  # the TTL frees it later
                logger.warning("Could not release a %s slot; it expires by itself", self.kind)
            self.held = False

    def touch(self) -> None:
        """Renew the slot's lease (for runs longer than the TTL)."""
        if self.held:
            redis_script(redis_sync(), _TOUCH_LUA)(keys=[self.key], args=[self.ttl, self.token])

    # async
    async def __aenter__(self) -> concurrency_slot:
        try:
            acquired = (await redis_script_together(LIMITS_THEN_SLOT_LUA, keys=[self.key], args=self._slot().script_args()))[-1]
        except redis.RedisError:
            logger.warning("Slot store unavailable; not limiting %s", self.kind)
            return self
        return self._entered(bool(acquired))

    async def aenter_counting(self, request: HttpRequest | Request, limits: list[Limit]) -> concurrency_slot:
        """`__aenter__`, counting the request's `limits` first in the same Redis round trip (`core.ratelimit.alimits_then_slot`).

        Past a limit, RateLimited is raised and no slot is taken. Redis unreachable: neither is limited.
        """
        acquired = await alimits_then_slot(request, limits, self._slot())
        return self if acquired is None else self._entered(acquired)

    def _entered(self, acquired: bool) -> concurrency_slot:
        if not acquired:
            raise _full(self.kind, self.limit)
        self.held = True
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.held:
            try:
                await redis_together("ZREM", self.key, self.token)
            except redis.RedisError:
                logger.warning("Could not release a %s slot; it expires by itself", self.kind)
            self.held = False

    async def atouch(self) -> None:
        """Renew the slot's lease from async code."""
        if self.held:
            await redis_script(redis_async(), _TOUCH_LUA)(keys=[self.key], args=[self.ttl, self.token])


def slots_in_use(*, user: User, kind: str) -> int:
    """How many unexpired slots of `kind` the user holds now."""
    client = redis_sync()
    now = time.time()
    return int(client.zcount(slot_key(user=user, kind=kind), now - settings.CONCURRENCY_SLOT_TTL_SECONDS, "+inf"))


def rate_check(request: HttpRequest | Request, *, kind: str) -> RateLimitState | None:
    """Count one call of `kind` (chat, compare, architect, upload, api) against the tier's per-minute limit."""
    states = ratelimit_hits(request, [kind_limit(request, kind=kind)])
    return states[0] if states else None


def kind_limit(request: HttpRequest | Request, *, kind: str) -> Limit:
    """The tier's per-minute limit on calls of `kind` for the caller (counted with `ratelimit_hits`)."""
    user = request.user
    return Limit(f"tier-{kind}", str(user.pk), f"{tier_policy(user).rpm(kind)}/m")


def _hour_key(*, user: User, kind: str) -> str:
    return f"nexus:quota:{kind}:{user.pk}:{int(time.time()) // 3600}"


def hourly_quota_check(*, user: User, kind: str, limit: int, redis_required: bool = False) -> int:
    """Raise RateLimited when the user already used `limit` of `kind` this hour; returns what is left.

    Redis unreachable: not limited (logged); with `redis_required` (the caller goes on to stream
    through Redis, as `core.streams.streams_available` checks), 503 SERVICE_UNAVAILABLE instead,
    so one round trip both reads the quota and finds Redis there.
    """
    try:
        used = int(redis_sync().get(_hour_key(user=user, kind=kind)) or 0)
    except redis.RedisError as exc:
        if redis_required:
            raise outage_of(exc) or ServiceUnavailable() from exc
        logger.warning("Quota store unavailable; not limiting %s", kind)
        return limit
    if used >= limit:
        retry = 3600 - int(time.time()) % 3600
        raise RateLimited(f"Hourly {kind} limit of {limit} reached.", retry_after=retry, details={"kind": [kind]})
    return limit - used


def hourly_quota_add(*, user: User, kind: str, amount: int) -> int:
    """Add `amount` of `kind` (e.g. tokens) to the user's count for this hour; returns the new total."""
    key = _hour_key(user=user, kind=kind)
    try:
        pipe = redis_sync().pipeline()
        pipe.incrby(key, int(amount))
        pipe.expire(key, 3700)
        total, _ = pipe.execute()
    except redis.RedisError:
        logger.warning("Quota store unavailable; %s usage not counted", kind)
        return 0
    return int(total)
