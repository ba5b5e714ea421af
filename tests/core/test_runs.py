"""core.runs.run_watch: a cancel flag is read with a bound, so a Redis that stops answering never makes a run unstoppable."""
from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from apps.core import redis_client
from apps.core.runs import cancel_key, cancel_request, run_watch


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A TCP server on loopback that accepts Redis connections and reads, but never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


async def test_a_flag_read_that_never_answers_does_not_stall_the_watch(silent_redis: str, settings: Any) -> None:
    settings.REDIS_URL = silent_redis
    settings.RUN_CANCEL_POLL_SECONDS = 0.05
    redis_client.redis_reset()
    ticks: list[float] = []
    loop = asyncio.get_running_loop()

    def check() -> str | None:
        ticks.append(loop.time())
        return "deadline" if len(ticks) >= 3 else None

    target = asyncio.ensure_future(asyncio.sleep(60))
    try:
        reason = await asyncio.wait_for(run_watch("nexus:cancel:test:silent", target, check=check), timeout=15)
    finally:
        redis_client.redis_reset()
    # Each unanswered read gave up after its bound; the watch went on ticking and stopped the run.
    assert reason == "deadline" and target.cancelled()


async def test_a_cancel_flag_stops_the_run(settings: Any) -> None:
    redis_client.redis_reset()
    key = cancel_key("test", "flag")
    await asyncio.to_thread(cancel_request, key, ttl=60)
    target = asyncio.ensure_future(asyncio.sleep(60))
    assert await asyncio.wait_for(run_watch(key, target), timeout=5) == "cancelled"
    await asyncio.sleep(0)
    assert target.cancelled()


async def test_a_cancel_that_is_swallowed_is_delivered_again(settings: Any) -> None:
    """A run whose code swallows the first CancelledError (as anyio's cancel scopes can) still stops."""
    settings.RUN_CANCEL_POLL_SECONDS = 0.05
    redis_client.redis_reset()
    key = cancel_key("test", "swallowed")
    await asyncio.to_thread(cancel_request, key, ttl=60)
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        for _ in range(600):  # a reply that would stream for a minute
            try:
                await asyncio.sleep(0.1)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # the library's bug: the cancel is caught and the loop goes on

    target = asyncio.ensure_future(stubborn())
    assert await asyncio.wait_for(run_watch(key, target), timeout=5) == "cancelled"
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(target, timeout=5)
    assert swallowed == 1


def _commands(name: str) -> int:
    from apps.core.redis_client import redis_sync

    return int(redis_sync().info("commandstats").get(f"cmdstat_{name}", {}).get("calls", 0))


async def test_the_flags_of_many_runs_are_read_together_and_only_the_flagged_one_stops(settings: Any) -> None:
    """200 runs watched by one process cost one MGET per tick, not one read per run; a cancel stops its run alone."""
    import uuid

    settings.RUN_CANCEL_POLL_SECONDS = 0.05
    keys = [cancel_key("test", uuid.uuid4()) for _ in range(200)]
    targets = [asyncio.ensure_future(asyncio.sleep(60)) for _ in keys]
    watches = [asyncio.ensure_future(run_watch(key, target)) for key, target in zip(keys, targets, strict=True)]
    await asyncio.sleep(0.1)
    mgets, exists = _commands("mget"), _commands("exists")
    await asyncio.sleep(0.5)
    ticks = _commands("mget") - mgets
    assert 3 <= ticks <= 15  # about one read per 0.05 s tick, for all 200 runs together
    assert _commands("exists") == exists
    await asyncio.to_thread(cancel_request, keys[7])
    assert await asyncio.wait_for(watches[7], timeout=10) == "cancelled"
    assert targets[7].cancelled()
    assert not any(target.done() for n, target in enumerate(targets) if n != 7)
    for target in targets:
        target.cancel()
    assert set(await asyncio.gather(*watches)) == {"cancelled", None}
