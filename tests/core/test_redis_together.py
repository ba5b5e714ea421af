"""Commands sent together (`redis_together`): one pipeline per loop turn, each caller with its own answer or error."""
from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis
from django.conf import settings
from django.test import override_settings

from apps.core.ratelimit import Limit, Slot, alimits_then_slot
from apps.core.redis_client import redis_async, redis_script_together, redis_together
from apps.core.runtime.embedded import free_port

_ECHO_LUA = "return {KEYS[1], ARGV[1]}"


def _store() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def test_the_commands_of_one_loop_turn_go_as_one_pipeline_and_each_caller_gets_its_own_answer() -> None:
    key = f"test-together-{uuid.uuid4().hex}"

    async def run() -> tuple[list[int], int]:
        client = redis_async()
        pipelines = 0
        pipeline = client.pipeline

        def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal pipelines
            pipelines += 1
            return pipeline(*args, **kwargs)

        client.pipeline = counted  # type: ignore[method-assign]  # counts the real pipelines, which still run
        try:
            answers = await asyncio.gather(*(redis_together("INCR", key) for _ in range(20)))
        finally:
            del client.pipeline
        return list(answers), pipelines

    answers, pipelines = asyncio.run(run())
    assert sorted(answers) == list(range(1, 21)) and answers == sorted(answers)  # in the order sent
    assert pipelines == 1
    assert int(_store().get(key)) == 20
    _store().delete(key)


def test_an_error_reaches_only_the_caller_whose_command_failed() -> None:
    text, counter = f"test-text-{uuid.uuid4().hex}", f"test-counter-{uuid.uuid4().hex}"
    _store().set(text, "not a number")

    async def run() -> list[Any]:
        return list(await asyncio.gather(redis_together("INCR", text), redis_together("INCR", counter), return_exceptions=True))

    failed, counted = asyncio.run(run())
    assert isinstance(failed, redis.ResponseError) and "not an integer" in str(failed)
    assert counted == 1
    _store().delete(text, counter)


def test_a_script_redis_lost_is_loaded_again() -> None:
    """After a Redis restart (or SCRIPT FLUSH) EVALSHA finds no script: it is loaded and the calls run."""
    _store().script_flush()

    async def run() -> list[Any]:
        return list(await asyncio.gather(*(redis_script_together(_ECHO_LUA, keys=[f"k{n}"], args=[n]) for n in range(3))))

    assert asyncio.run(run()) == [[b"k0", b"0"], [b"k1", b"1"], [b"k2", b"2"]]


def test_a_cancelled_caller_leaves_the_others_of_its_batch_answered() -> None:
    key = f"test-cancelled-{uuid.uuid4().hex}"

    async def run() -> int:
        gone = asyncio.ensure_future(redis_together("INCR", key))
        kept = asyncio.ensure_future(redis_together("INCR", key))
        await asyncio.sleep(0)
        gone.cancel()
        return int(await kept)

    assert asyncio.run(run()) in (1, 2)  # the cancelled caller's command may still have been sent
    _store().delete(key)


def test_with_redis_unreachable_every_caller_hears_it_and_limits_let_the_request_through() -> None:
    with override_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", REDIS_CONNECT_TIMEOUT=1):
        async def run() -> tuple[list[Any], bool | None]:
            errors = await asyncio.gather(redis_together("PING"), redis_together("PING"), return_exceptions=True)
            from django.test import RequestFactory

            taken = await alimits_then_slot(RequestFactory().post("/"), [Limit("test", "api", "3/m")],
                                            Slot(key="test-slots", most=1, token="t", ttl=60))
            return list(errors), taken

        errors, taken = asyncio.run(run())
    assert all(isinstance(error, redis.ConnectionError) for error in errors), errors
    assert taken is None  # "store unavailable": served, not limited (and logged)


@pytest.mark.parametrize("count", [1, 3])
def test_slots_taken_and_released_together_leave_none_held(count: int) -> None:
    """Slots taken and given back in the same loop turns (as concurrent gateway calls do) all go back."""
    from apps.accounts.limits import concurrency_slot, slot_key
    from tests.factories import UserFactory

    user = UserFactory.build(pk=10_000_000 + count)

    async def run() -> None:
        async def hold() -> None:
            async with concurrency_slot(user=user, kind="chat", limit=count):
                await asyncio.sleep(0)

        await asyncio.gather(*(hold() for _ in range(count)))

    asyncio.run(run())
    assert _store().zcard(slot_key(user=user, kind="chat")) == 0
