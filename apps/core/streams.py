"""Replayable run event streams on Redis Streams.

One stream per run (a chat reply, a chain execution, a build...). Writers (Celery tasks, async
views) `publish` events; each gets the next number, 1, 2, 3..., used as the Redis entry id `0-N`
and as the SSE `id:`. Readers `subscribe(key, after=N)`: they get every event after N still in
the stream, then follow live until an event marked `final`. The stream is bounded (`XADD
MAXLEN ~`) and expires, because the final state of every run also lives in PostgreSQL.

Inside one process, one Redis reader (`_Reader`) follows every stream that has local subscribers,
with one blocking `XREAD` over all of them: 500 browsers watching one build, or 500 chat replies
streamed by one process, cost one blocking read, not 500.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings

from .errors import ServiceUnavailable, outage_of
from .loops import LoopLocal
from .redis_client import redis_async, redis_script, redis_sync

logger = logging.getLogger("nexus.streams")

# INCR the counter, XADD with that number as the id, refresh both TTLs; atomic in Redis.
_PUBLISH_LUA = """
local n = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '0-' .. n, 'd', ARGV[2], 'f', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return n
"""


# The same for several events in one call: ARGV is maxlen, ttl, then (data, final) pairs.
_PUBLISH_MANY_LUA = """
local n = 0
for i = 3, #ARGV, 2 do
  n = redis.call('INCR', KEYS[2])
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '0-' .. n, 'd', ARGV[i], 'f', ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return n
"""


# The events of several streams in one call (the loop's publisher): KEYS are (stream, counter) pairs,
# ARGV is maxlen, ttl, then a (data, final) pair per event; returns each event's number, or the
# error of the one event Redis refused (the others of the call are appended all the same).
_PUBLISH_BATCH_LUA = """
local out = {}
for k = 1, #KEYS / 2 do
  local key, counter = KEYS[2 * k - 1], KEYS[2 * k]
  local n = redis.pcall('INCR', counter)
  if type(n) == 'table' then
    out[k] = 'ERR ' .. n.err
  else
    local added = redis.pcall('XADD', key, 'MAXLEN', '~', ARGV[1], '0-' .. n, 'd', ARGV[2 * k + 1], 'f', ARGV[2 * k + 2])
    if type(added) == 'table' and added.err then
      out[k] = 'ERR ' .. added.err
    else
      redis.call('EXPIRE', key, ARGV[2])
      redis.call('EXPIRE', counter, ARGV[2])
      out[k] = n
    end
  end
end
return out
"""

# Events per batched call at most: Redis runs a script alone, so one call stays around a millisecond.
PUBLISH_BATCH_MAX = 256


@dataclass(slots=True)
class StreamEvent:
    """One event of a run: its number, its JSON payload, and whether it ends the stream.

    `raw` is the JSON text as stored; one event object is shared by every local subscriber, so
    `frames` caches its encoded SSE frame and 500 readers cost one encoding, not 500.
    """

    id: int
    data: dict[str, Any]
    final: bool = False
    raw: str = ""
    frames: dict[bool, bytes] = field(default_factory=dict, repr=False, compare=False)


# Put in subscriber queues when the stream has been silent for a keep-alive interval.
KEEPALIVE: Any = object()


def stream_key(kind: str, run_id: object) -> str:
    """The Redis key of a run's stream, e.g. stream_key("chat", message_id)."""
    return f"nexus:stream:{kind}:{run_id}"


def _counter_key(key: str) -> str:
    return f"{key}:seq"


def _sync_redis() -> redis.Redis:
    return redis_sync()


def _encode(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), default=str)


def publish(key: str, data: dict[str, Any], *, final: bool = False) -> int:
    """Append an event (from sync code: tasks, services); returns its number."""
    return int(
        redis_script(redis_sync(), _PUBLISH_LUA)(
            keys=[key, _counter_key(key)],
            args=[settings.STREAM_MAXLEN, _encode(data), "1" if final else "0", settings.STREAM_TTL_SECONDS],
        )
    )


def publish_many(key: str, events: list[tuple[dict[str, Any], bool]]) -> int:
    """Append several `(data, final)` events in order in one round trip; returns the last one's number."""
    if not events:
        return 0
    args: list[Any] = [settings.STREAM_MAXLEN, settings.STREAM_TTL_SECONDS]
    for data, final in events:
        args.extend((_encode(data), "1" if final else "0"))
    return int(redis_script(redis_sync(), _PUBLISH_MANY_LUA)(keys=[key, _counter_key(key)], args=args))


def streams_available() -> None:
    """Raise 503 SERVICE_UNAVAILABLE when the stream store (Redis) cannot be reached.

    Called before a run is started (a chat reply, an execution): a run whose events cannot be
    published must be refused before it is stored or a provider is paid, not fail half-way.
    """
    try:
        _sync_redis().ping()
    except redis.RedisError as exc:
        raise outage_of(exc) or ServiceUnavailable() from exc


def last_event_id(key: str) -> int:
    """The number of the newest event published to a stream (0 when none)."""
    raw = _sync_redis().get(_counter_key(key))
    return int(raw or 0)


def read_events(key: str, *, after: int = 0) -> list[StreamEvent]:
    """Every event after `after` still held in the stream (sync; for tests and replays)."""
    entries: Any = _sync_redis().xrange(key, min=f"0-{after + 1}", max="+")  # raw reply, parsed by _decode
    return [_decode(entry_id, fields) for entry_id, fields in entries]


def delete_stream(key: str) -> None:
    """Drop a stream and its counter."""
    _sync_redis().delete(key, _counter_key(key))


def _decode(entry_id: bytes | str, fields: dict[Any, Any]) -> StreamEvent:
    raw_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    data: Any = fields.get(b"d") if b"d" in fields else fields.get("d")
    final = fields.get(b"f") if b"f" in fields else fields.get("f")
    raw = data.decode() if isinstance(data, bytes) else data
    return StreamEvent(id=int(raw_id.split("-", 1)[1]), data=json.loads(raw), final=(final in (b"1", "1")), raw=raw)


# ------------------------------------------------------------------------------------------------
# Async side: publishing from async views and the shared per-process readers.
# ------------------------------------------------------------------------------------------------

class _Publisher:
    """The event loop's queue of events to append: everything published meanwhile goes in one Redis call.

    500 chat replies streaming from one process publish about a thousand events a second; one
    script call each was a thousand round trips (a connection taken from the pool, a command
    packed and parsed, a socket write and read on the loop). Events published while a call is
    in flight wait for it and go together in the next one. One stream's events keep their
    order: its producer awaits each event before the next.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[str, str, bool, asyncio.Future[int]]] = []
        self.task: asyncio.Task[None] | None = None

    def add(self, key: str, raw: str, final: bool) -> asyncio.Future[int]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self.pending.append((key, raw, final, future))
        if self.task is None or self.task.done():
            # A fresh context: the publisher outlives the request whose event started it.
            self.task = loop.create_task(self._run(), name="stream-publisher", context=contextvars.Context())
        return future

    async def _run(self) -> None:
        while self.pending:
            batch, self.pending = self.pending[:PUBLISH_BATCH_MAX], self.pending[PUBLISH_BATCH_MAX:]
            keys: list[str] = []
            args: list[Any] = [settings.STREAM_MAXLEN, settings.STREAM_TTL_SECONDS]
            for key, raw, final, _future in batch:
                keys += (key, _counter_key(key))
                args += (raw, "1" if final else "0")
            try:
                numbers = await redis_script(redis_async(), _PUBLISH_BATCH_LUA)(keys=keys, args=args)
            except BaseException as exc:  # each publisher sees the failure its own call would have had
                for *_, future in batch:
                    if future.done():
                        continue
                    if isinstance(exc, asyncio.CancelledError):
                        future.cancel()
                    else:
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (*_, future), number in zip(batch, numbers, strict=True):
                if future.done():  # its publisher was cancelled meanwhile
                    continue
                if isinstance(number, bytes | str):  # Redis refused this one event
                    future.set_exception(redis.ResponseError(number.decode() if isinstance(number, bytes) else number))
                else:
                    future.set_result(int(number))


_publishers: LoopLocal[_Publisher] = LoopLocal(_Publisher)


async def apublish(key: str, data: dict[str, Any], *, final: bool = False) -> int:
    """Append an event from async code; returns its number.

    Events published at the same time by the loop's tasks go to Redis in one call (`_Publisher`).
    For a stream produced in this process (`local_producer`), the event also goes straight to
    the process's own subscribers, so the shared reader does not read it back from Redis.
    """
    raw = _encode(data)
    n = await _publishers.get().add(key, raw, final)
    if key in _local_producers:
        reader = _readers.peek()
        follower = reader.followers.get(key) if reader is not None else None
        if follower is not None and n > follower.last_id:
            follower.last_id = n
            follower.deliver(StreamEvent(id=n, data=json.loads(raw), final=final, raw=raw))
            if final:
                follower.finished = True
                reader._drop(follower)  # type: ignore[union-attr]  # follower is only found on a reader
    return n


# Streams whose events are published, in order and by one task, on this process's event loop.
_local_producers: set[str] = set()


@contextlib.contextmanager
def local_producer(key: str) -> Iterator[None]:
    """Mark `key` as produced here, by one task publishing in order, for as long as the block runs.

    Its local subscribers then get each event from `apublish` itself, and the shared reader leaves
    the stream out of its XREAD: 500 chat replies streamed by one process cost no reads at all
    (each XREAD named all 500 streams, and returned after a few events). Subscribers in other
    processes, and any that re-attach, read Redis as before.
    """
    _local_producers.add(key)
    try:
        yield
    finally:
        _local_producers.discard(key)


async def alast_event_id(key: str) -> int:
    """The number of the newest event of a stream (async)."""
    raw = await redis_async().get(_counter_key(key))
    return int(raw or 0)


class _Follower:
    """What the process's reader knows of one stream: where it is, and the local subscribers it feeds."""

    def __init__(self, key: str, start_after: int) -> None:
        self.key = key
        self.last_id = start_after
        self.queues: set[asyncio.Queue[StreamEvent | None]] = set()
        self.finished = False
        self.failed = False
        self.last_sent = time.monotonic()  # an event or a keep-alive

    def deliver(self, item: Any) -> None:
        self.last_sent = time.monotonic()
        for queue in list(self.queues):
            queue.put_nowait(item)

    def close(self) -> None:
        for queue in list(self.queues):
            queue.put_nowait(None)  # wake subscribers; they replay anything they missed


# A reader is woken when a stream is added while its XREAD blocks: one XADD to the process's own
# wake stream, which every XREAD of that reader includes.
_WAKE_LUA = """
redis.call('XADD', KEYS[1], 'MAXLEN', '~', 16, '*', 'w', '1')
redis.call('EXPIRE', KEYS[1], 60)
return 1
"""


class _Reader:
    """One blocking XREAD over every stream followed in this process (per event loop).

    500 chat replies streamed by one process cost one Redis connection and one read per wake-up,
    not 500 blocking reads each holding a pooled connection. The block timeout doubles as the
    keep-alive clock: a stream silent for SSE_KEEPALIVE_SECONDS gets a KEEPALIVE.
    """

    def __init__(self) -> None:
        self.followers: dict[str, _Follower] = {}
        self.idle_s = max(0.05, settings.SSE_KEEPALIVE_SECONDS)
        self.block_ms = max(50, int(min(self.idle_s / 2, 1.0) * 1000))
        self.wake_key = f"nexus:streams:wake:{uuid.uuid4().hex}"
        self.wake_last = "$"
        self.task: asyncio.Task[None] | None = None

    def alive(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self) -> None:
        # A fresh context: the reader outlives the request that started it (its request id, its request thread).
        self.task = asyncio.get_running_loop().create_task(self._run(), name="stream-reader", context=contextvars.Context())

    async def wake(self) -> None:
        """Make the blocked XREAD return, so it is issued again with the streams added since."""
        try:
            await redis_async().eval(_WAKE_LUA, 1, self.wake_key)
        except redis.RedisError:  # the reader sees the outage itself
            pass

    async def _run(self) -> None:
        client = redis_async()
        try:
            while self.followers:
                wanted: dict[Any, Any] = {key: f"0-{follower.last_id}" for key, follower in self.followers.items()
                                          if key not in _local_producers}
                wanted[self.wake_key] = self.wake_last
                try:
                    response: Any = await client.xread(wanted, block=self.block_ms, count=500)  # raw reply
                except (redis.ConnectionError, redis.TimeoutError):
                    # Redis is gone (the client already retried): end every stream followed here. The
                    # subscribers wake, try to replay, and end with a resumable error event instead
                    # of waiting silently for a Redis that may come back empty.
                    logger.warning("Stream reader lost Redis while following %d streams", len(self.followers))
                    for follower in self.followers.values():
                        follower.failed = True
                    return
                for raw_key, entries in response or ():
                    key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
                    if key == self.wake_key:
                        last = entries[-1][0]
                        self.wake_last = last.decode() if isinstance(last, bytes) else last
                        continue
                    followed = self.followers.get(key)
                    if followed is None:
                        continue  # its last subscriber left during the read
                    for entry_id, fields in entries:
                        event = _decode(entry_id, fields)
                        if event.id <= followed.last_id:
                            continue  # delivered by a local `apublish` while this read was out
                        followed.last_id = event.id
                        followed.deliver(event)
                        if event.final:
                            followed.finished = True
                    if followed.finished:
                        self._drop(followed)
                now = time.monotonic()
                for follower in list(self.followers.values()):
                    if now - follower.last_sent >= self.idle_s:
                        follower.deliver(KEEPALIVE)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Stream reader failed")
        finally:
            followers, self.followers = list(self.followers.values()), {}
            for follower in followers:
                follower.close()

    def _drop(self, follower: _Follower) -> None:
        if self.followers.get(follower.key) is follower:
            del self.followers[follower.key]
        follower.close()


_readers: LoopLocal[_Reader] = LoopLocal(_Reader)


def _reader() -> _Reader:
    reader = _readers.get()
    if reader.task is not None and reader.task.done():
        reader = _readers.replace()
    return reader


async def _join(key: str, queue: asyncio.Queue[StreamEvent | None]) -> _Follower:
    follower = _reader().followers.get(key)
    if follower is not None and not follower.finished:
        follower.queues.add(queue)
        return follower
    # Start from the newest event *before* the subscriber replays, so nothing falls between the two.
    start_after = await alast_event_id(key)
    reader = _reader()  # again: the reader may have ended while we awaited
    follower = reader.followers.get(key)
    if follower is None or follower.finished:
        follower = reader.followers[key] = _Follower(key, start_after)
        if reader.alive():
            await reader.wake()
        else:
            reader.start()
    follower.queues.add(queue)
    return follower


def _leave(follower: _Follower, queue: asyncio.Queue[StreamEvent | None]) -> None:
    follower.queues.discard(queue)
    if not follower.queues:
        reader = _readers.peek()
        if reader is not None and reader.followers.get(follower.key) is follower:
            del reader.followers[follower.key]  # the next XREAD leaves it out


async def subscribe(key: str, *, after: int = 0, keepalive: bool = False) -> AsyncIterator[StreamEvent]:
    """Every event after `after`, then live events, until one marked final.

    With `keepalive`, also yields `KEEPALIVE` whenever the stream has been silent for
    SSE_KEEPALIVE_SECONDS (SSE responses turn it into a comment line). Cancelling the consumer
    (a client that disconnects) removes only this subscriber.
    """
    client = redis_async()
    queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue()
    last = after
    while True:
        follower = await _join(key, queue)
        try:
            entries: Any = await client.xrange(key, min=f"0-{last + 1}", max="+")  # raw reply, parsed by _decode
            for entry_id, fields in entries:
                event = _decode(entry_id, fields)
                last = event.id
                yield event
                if event.final:
                    return
            while (item := await queue.get()) is not None:
                if item is KEEPALIVE:
                    if keepalive:
                        yield item
                    continue
                if item.id <= last:
                    continue  # already replayed
                last = item.id
                yield item
                if item.final:
                    return
        finally:
            _leave(follower, queue)
        if follower.finished:
            return
        if follower.failed:
            # Redis went away under the reader: end this stream with an error the client resumes from
            # (Last-Event-ID), rather than re-joining a stream that may have lost its end.
            raise redis.ConnectionError(f"Lost Redis while following {key}")
        # The shared reader stopped: loop to replay from `last` and re-join.
