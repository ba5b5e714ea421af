"""core.streams: numbered events, replay from an id, live follow, shared readers."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from apps.core import streams


def _key() -> str:
    return streams.stream_key("test", uuid.uuid4())


def test_events_are_numbered_from_one_and_replay_from_an_id() -> None:
    key = _key()
    ids = [streams.publish(key, {"type": "tick", "n": n}) for n in range(5)]
    assert ids == [1, 2, 3, 4, 5]
    assert streams.last_event_id(key) == 5
    replay = streams.read_events(key, after=2)
    assert [event.id for event in replay] == [3, 4, 5]
    assert [event.data["n"] for event in replay] == [2, 3, 4]


def test_several_events_published_at_once_keep_their_order_and_numbers() -> None:
    key = _key()
    streams.publish(key, {"n": 0})
    last = streams.publish_many(key, [({"n": 1}, False), ({"n": 2}, False), ({"n": 3}, True)])
    assert last == 4
    events = streams.read_events(key)
    assert [(e.id, e.data["n"], e.final) for e in events] == [(1, 0, False), (2, 1, False), (3, 2, False), (4, 3, True)]
    assert streams.publish_many(key, []) == 0 and streams.last_event_id(key) == 4


def test_streams_are_bounded(settings) -> None:  # type: ignore[no-untyped-def]
    settings.STREAM_MAXLEN = 10
    key = _key()
    for n in range(500):
        streams.publish(key, {"n": n})
    kept = streams.read_events(key)
    assert len(kept) < 500
    assert kept[-1].id == 500  # the newest always survives trimming


async def _collect(key: str, *, after: int, until: int, timeout: float = 5) -> list[streams.StreamEvent]:
    got: list[streams.StreamEvent] = []

    async def run() -> None:
        async for event in streams.subscribe(key, after=after):
            got.append(event)
            if event.id >= until:
                return

    await asyncio.wait_for(run(), timeout)
    return got


async def test_subscribe_replays_then_follows_live_until_final() -> None:
    key = _key()
    for n in range(3):
        await streams.apublish(key, {"n": n})

    async def produce() -> None:
        await asyncio.sleep(0.1)
        for n in range(3, 6):
            await streams.apublish(key, {"n": n})
            await asyncio.sleep(0.01)
        await streams.apublish(key, {"type": "done"}, final=True)

    producer = asyncio.create_task(produce())
    events: list[streams.StreamEvent] = []
    async for event in streams.subscribe(key, after=1):
        events.append(event)
    await producer
    assert [event.id for event in events] == [2, 3, 4, 5, 6, 7]
    assert events[-1].final and events[-1].data == {"type": "done"}


async def test_many_subscribers_share_one_reader_and_each_gets_everything() -> None:
    key = _key()
    await streams.apublish(key, {"n": 0})
    readers = [asyncio.create_task(_collect(key, after=0, until=21)) for _ in range(50)]
    await asyncio.sleep(0.2)
    followers = streams._readers[asyncio.get_running_loop()].followers
    assert key in followers and len(followers[key].queues) == 50
    for n in range(1, 21):
        await streams.apublish(key, {"n": n})
    await streams.apublish(key, {"type": "end"}, final=True)
    results = await asyncio.gather(*readers)
    for events in results:
        assert [event.id for event in events] == list(range(1, 22))


async def test_a_cancelled_reader_leaves_the_others_running() -> None:
    key = _key()
    quitter = asyncio.create_task(_collect(key, after=0, until=100))
    stayer = asyncio.create_task(_collect(key, after=0, until=3))
    await asyncio.sleep(0.1)
    quitter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await quitter
    for n in range(3):
        await streams.apublish(key, {"n": n})
    events = await stayer
    assert [event.id for event in events] == [1, 2, 3]


async def test_subscribing_to_a_finished_stream_replays_and_ends() -> None:
    key = _key()
    await streams.apublish(key, {"n": 1})
    await streams.apublish(key, {"type": "end"}, final=True)
    events = await _collect(key, after=0, until=99)
    assert [event.id for event in events] == [1, 2]


async def _until(condition, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    """Wait for `condition()` (subscribers join after a Redis round trip each; a busy machine is slow)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            if condition():
                return
        except KeyError:  # no reader yet
            pass
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


async def test_many_streams_share_one_blocking_read(settings) -> None:  # type: ignore[no-untyped-def]
    """200 streams followed at once (a process streaming 200 replies): one reader task, every event delivered."""
    settings.SSE_KEEPALIVE_SECONDS = 30  # the reader blocks 1 s at a time: joins must wake it, not wait it out
    keys = [_key() for _ in range(200)]
    readers = [asyncio.create_task(_collect(key, after=0, until=3, timeout=20)) for key in keys]
    await _until(lambda: len(streams._readers[asyncio.get_running_loop()].followers) == len(keys))
    reader = streams._readers[asyncio.get_running_loop()]
    assert set(reader.followers) == set(keys)
    assert [task.get_name() for task in asyncio.all_tasks()].count("stream-reader") == 1
    for n in range(1, 4):
        for key in keys:
            await streams.apublish(key, {"n": n}, final=n == 3)
    results = await asyncio.gather(*readers)
    assert all([event.data["n"] for event in events] == [1, 2, 3] for events in results)
    await asyncio.sleep(0.1)
    assert not reader.followers  # finished streams are dropped from the read


async def test_a_stream_joined_while_the_reader_blocks_is_read_at_once(settings) -> None:  # type: ignore[no-untyped-def]
    settings.SSE_KEEPALIVE_SECONDS = 60
    first, second = _key(), _key()
    waiting = asyncio.create_task(_collect(first, after=0, until=1, timeout=90))
    await _until(lambda: first in streams._readers[asyncio.get_running_loop()].followers)
    await asyncio.sleep(0.1)  # the reader is now blocked on `first` alone
    late = asyncio.create_task(_collect(second, after=0, until=1, timeout=90))
    await _until(lambda: streams._readers[asyncio.get_running_loop()].wake_last != "$")
    reader = streams._readers[asyncio.get_running_loop()]
    # The join woke the blocked read through the reader's wake stream (else it would block up to a
    # second more before its next XREAD named `second`).
    assert reader.wake_last != "$" and set(reader.followers) == {first, second}
    await streams.apublish(second, {"n": 1}, final=True)
    assert [event.data["n"] for event in await late] == [1]
    await streams.apublish(first, {"n": 1}, final=True)
    await waiting


def _xreads() -> int:
    from apps.core.redis_client import redis_sync

    return int(redis_sync().info("commandstats").get("cmdstat_xread", {}).get("calls", 0))


async def test_a_stream_produced_here_reaches_its_subscribers_without_being_read_back(settings) -> None:  # type: ignore[no-untyped-def]
    """A chat reply's events go from its generation to the responses of the same process directly.

    Subscribers that join before, during and after the first events each get every event once, in
    order; the shared reader issues no read per event (it named every stream, and returned after a
    few events, which cost a process streaming 500 replies a tenth of its CPU).
    """
    settings.SSE_KEEPALIVE_SECONDS = 30
    key = _key()
    with streams.local_producer(key):
        early = asyncio.create_task(_collect(key, after=0, until=60))
        await _until(lambda: key in streams._readers[asyncio.get_running_loop()].followers)
        reads_before = _xreads()
        late = None
        for n in range(1, 61):
            await streams.apublish(key, {"n": n}, final=n == 60)
            if n == 20:
                late = asyncio.create_task(_collect(key, after=0, until=60))
                await asyncio.sleep(0)  # the join races the next publishes
        assert late is not None
        got_early, got_late = await early, await late
    assert [event.data["n"] for event in got_early] == list(range(1, 61))
    assert [event.id for event in got_late] == list(range(1, 61))
    assert got_early[-1].final
    assert _xreads() - reads_before <= 5  # the late join's wake-up, not one per event


async def test_a_stream_produced_here_is_still_read_from_redis_by_other_processes() -> None:
    """Marking a stream local changes nothing for subscribers elsewhere: they follow Redis as before."""
    key = _key()

    def other_process() -> list[int]:
        return [event.data["n"] for event in asyncio.run(_collect(key, after=0, until=5, timeout=20))]

    elsewhere = asyncio.get_running_loop().run_in_executor(None, other_process)
    await asyncio.sleep(0.3)
    with streams.local_producer(key):
        for n in range(1, 6):
            await streams.apublish(key, {"n": n}, final=n == 5)
    assert await elsewhere == [1, 2, 3, 4, 5]


async def test_events_published_at_once_by_many_producers_go_to_redis_in_one_call() -> None:
    """300 producers (replies streaming in one process) publish at once: one or two Redis calls, each stream in order."""
    from apps.core.redis_client import redis_async

    client = redis_async()

    async def script_calls() -> int:
        stats = await client.info("commandstats")
        return sum(int(stats.get(name, {}).get("calls", 0)) for name in ("cmdstat_evalsha", "cmdstat_eval"))

    keys = [_key() for _ in range(300)]

    async def produce(key: str) -> list[int]:
        return [await streams.apublish(key, {"n": n}, final=n == 2) for n in range(3)]

    before = await script_calls()
    numbers = await asyncio.gather(*(produce(key) for key in keys))
    calls = await script_calls() - before
    assert numbers == [[1, 2, 3]] * len(keys)
    # Three rounds of 300 events, at most 256 per call: without batching this was 900 calls.
    assert calls <= 3 * 2
    for key in keys[:5]:
        events = await asyncio.to_thread(streams.read_events, key)
        assert [(e.id, e.data["n"], e.final) for e in events] == [(1, 0, False), (2, 1, False), (3, 2, True)]


async def test_an_event_redis_refuses_fails_only_its_own_publisher() -> None:
    """Published in one call with others, an event Redis refuses (its key is no stream) fails alone; the others land."""
    import redis

    from apps.core.redis_client import redis_async

    broken, fine = _key(), _key()
    await redis_async().set(broken, "not a stream")
    results = await asyncio.gather(streams.apublish(broken, {"n": 1}), streams.apublish(fine, {"n": 1}), return_exceptions=True)
    assert isinstance(results[0], redis.ResponseError) and "WRONGTYPE" in str(results[0])
    assert results[1] == 1
    assert [event.data for event in await asyncio.to_thread(streams.read_events, fine)] == [{"n": 1}]
    assert await streams.apublish(fine, {"n": 2}) == 2  # the publisher goes on
    assert not streams._publishers.get().pending
