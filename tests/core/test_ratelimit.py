"""Rate limits: counted in one Redis round trip, inside a request or outside one (`ratelimit_count`), and with a concurrency slot."""
from __future__ import annotations

import time
import uuid

import pytest
from django.test import RequestFactory

from apps.core.errors import RateLimited
from apps.core.ratelimit import Limit, RateLimitState, ratelimit_count, ratelimit_hits


def test_a_service_count_and_a_request_share_one_counter() -> None:
    """What a service counts and what requests count for one key use up one budget, and refusals read the same."""
    group, key = f"test-{uuid.uuid4().hex}", "user-1"
    first = ratelimit_count(group=group, key=key, rate="4/h")
    assert isinstance(first, RateLimitState)
    assert (first.limit, first.remaining) == (4, 3)
    assert time.time() < first.reset <= time.time() + 3600 + 1

    request = RequestFactory().get("/")
    [second] = ratelimit_hits(request, [Limit(group, key, "4/h")])
    assert (second.limit, second.remaining) == (4, 2)
    assert request.ratelimit_state == second  # type: ignore[attr-defined]  # a request keeps its state for the headers

    third = ratelimit_count(group=group, key=key, rate="4/h")
    assert third is not None and third.remaining == 1
    assert ratelimit_count(group=group, key="user-2", rate="4/h").remaining == 3  # type: ignore[union-attr]  # another key's budget

    assert ratelimit_count(group=group, key=key, rate="4/h").remaining == 0  # type: ignore[union-attr]
    with pytest.raises(RateLimited) as by_service:
        ratelimit_count(group=group, key=key, rate="4/h")
    with pytest.raises(RateLimited) as by_request:
        ratelimit_hits(RequestFactory().get("/"), [Limit(group, key, "4/h")])
    for caught in (by_service.value, by_request.value):
        assert caught.status_code == 429 and 0 < caught.retry_after <= 3600
        assert caught.message.startswith("Rate limit of 4/h exceeded; retry in ")


def test_the_limits_and_a_slot_are_one_round_trip_and_a_refused_limit_takes_no_slot() -> None:
    """The gateway's pre-call Redis work: counters, then a slot only if every counter allows it."""
    import asyncio

    import redis
    from django.conf import settings

    from apps.core.ratelimit import Slot, alimits_then_slot

    store = redis.Redis.from_url(settings.REDIS_URL)
    group, slots = f"test-{uuid.uuid4().hex}", f"test-slots-{uuid.uuid4().hex}"
    limits = [Limit(group, "api", "3/m"), Limit(group, "chat", "100/m")]

    async def take(token: str) -> tuple[bool | None, object]:
        request = RequestFactory().post("/")
        try:
            return await alimits_then_slot(request, limits, Slot(key=slots, most=2, token=token, ttl=60)), request.ratelimit_state  # type: ignore[attr-defined]
        except RateLimited as refused:
            return None, refused

    first, state = asyncio.run(take("a"))
    assert first is True and isinstance(state, RateLimitState) and (state.limit, state.remaining) == (3, 2)  # the tightest
    scripts_before = int(store.info("commandstats")["cmdstat_evalsha"]["calls"])
    assert asyncio.run(take("b"))[0] is True
    assert int(store.info("commandstats")["cmdstat_evalsha"]["calls"]) - scripts_before == 1  # the counters and the slot: one script
    full, state = asyncio.run(take("c"))  # counted, but both slots are held
    assert full is False and state.remaining == 0  # type: ignore[attr-defined]
    refused, error = asyncio.run(take("d"))  # past the 3/m limit: refused, and no slot taken for it
    assert refused is None and isinstance(error, RateLimited)
    store.zrem(slots, "a")
    assert asyncio.run(take("e"))[0] is None  # still past the limit: the free slot is not taken
    assert sorted(store.zrange(slots, 0, -1)) == [b"b"]
    store.delete(slots)
