"""Replayable run event streams on Redis Streams.

One stream per run (a chat reply, a chain execution, a build...). Writers (Celery tasks, async
views) `publish` events; each gets the next number, 1, 2, 3..., used as the Redis entry id `0-N`
and as the SSE `id:`. Readers `subscribe(key, after=N)`: they get every event after N still in
the stream, then follow live until an event marked `final`. The stream is bounded (`XADD
MAXLEN ~`) and expires, because the final state of every run also lives in PostgreSQL.

Inside one process, every subscriber of a stream shares one Redis reader (`_Follower`): 500
browsers watching one build cost one blocking `XREAD`, not 500.
"""
from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings

from .errors import ServiceUnavailable, outage_of
from .redis_client import redis_async, redis_sync

logger = logging.getLogger("nexus.streams")

# INCR the counter, XADD with that number as the id, refresh both TTLs; atomic in Redis.
_PUBLISH_LUA = """
local n = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '0-' .. n, 'd', ARGV[2], 'f', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return n
"""

_publish_script: Any = None


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
    global _publish_script
    client = redis_sync()
    if _publish_script is None or _publish_script.registered_client is not client:
        _publish_script = client.register_script(_PUBLISH_LUA)
    return client


def _encode(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), default=str)


def publish(key: str, data: dict[str, Any], *, final: bool = False) -> int:
    """Append an event (from sync code: tasks, services); returns its number."""
    _sync_redis()
    return int(
        _publish_script(
            keys=[key, _counter_key(key)],
            args=[settings.STREAM_MAXLEN, _encode(data), "1" if final else "0", settings.STREAM_TTL_SECONDS],
        )
    )


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

_followers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Follower]] = weakref.WeakKeyDictionary()


async def apublish(key: str, data: dict[str, Any], *, final: bool = False) -> int:
    """Append an event from async code; returns its number."""
    client = redis_async()
    result = await client.eval(
        _PUBLISH_LUA,
        2,
        key,
        _counter_key(key),
        settings.STREAM_MAXLEN,
        _encode(data),
        "1" if final else "0",
        settings.STREAM_TTL_SECONDS,
    )
    return int(result)


async def alast_event_id(key: str) -> int:
    """The number of the newest event of a stream (async)."""
    raw = await redis_async().get(_counter_key(key))
    return int(raw or 0)


class _Follower:
    """One blocking XREAD per stream per process, fanned out to every local subscriber."""

    def __init__(self, key: str, start_after: int) -> None:
        self.key = key
        # The blocking read doubles as the keep-alive clock: one timer per stream, not per reader.
        self.idle_ms = max(50, int(settings.SSE_KEEPALIVE_SECONDS * 1000))
        self.last_id = start_after
        self.queues: set[asyncio.Queue[StreamEvent | None]] = set()
        self.task: asyncio.Task[None] | None = None
        self.finished = False
        self.failed = False

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"stream-follower:{self.key}")

    async def _run(self) -> None:
        client = redis_async()
        try:
            while self.queues and not self.finished:
                try:
                    response: Any = await client.xread({self.key: f"0-{self.last_id}"}, block=self.idle_ms, count=500)  # raw reply
                except (redis.ConnectionError, redis.TimeoutError):
                    # Redis is gone (the client already retried): end this reader. Its subscribers wake,
                    # try to replay, and their streams end with a resumable error event instead of
                    # waiting silently for a Redis that may come back empty.
                    logger.warning("Stream reader lost Redis on %s", self.key)
                    self.failed = True
                    return
                if not response:
                    for queue in list(self.queues):
                        queue.put_nowait(KEEPALIVE)
                    continue
                for _stream, entries in response:
                    for entry_id, fields in entries:
                        event = _decode(entry_id, fields)
                        self.last_id = event.id
                        for queue in list(self.queues):
                            queue.put_nowait(event)
                        if event.final:
                            self.finished = True
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Stream reader failed on %s", self.key)
        finally:
            self._close()

    def _close(self) -> None:
        loop_followers = _followers.get(asyncio.get_running_loop(), {})
        if loop_followers.get(self.key) is self:
            del loop_followers[self.key]
        for queue in list(self.queues):
            queue.put_nowait(None)  # wake subscribers; they replay anything they missed


async def _join(key: str, queue: asyncio.Queue[StreamEvent | None]) -> _Follower:
    loop_followers = _followers.setdefault(asyncio.get_running_loop(), {})
    follower = loop_followers.get(key)
    if follower is not None and not follower.finished and follower.task is not None and not follower.task.done():
        follower.queues.add(queue)
        return follower
    # Start from the newest event *before* the subscriber replays, so nothing falls between the two.
    follower = _Follower(key, await alast_event_id(key))
    existing = loop_followers.get(key)
    if existing is not None and not existing.finished and existing.task is not None and not existing.task.done():
        follower = existing  # another subscriber started one while we awaited
    else:
        loop_followers[key] = follower
        follower.start()
    follower.queues.add(queue)
    return follower


def _leave(follower: _Follower, queue: asyncio.Queue[StreamEvent | None]) -> None:
    follower.queues.discard(queue)
    if not follower.queues and follower.task is not None and not follower.task.done():
        follower.task.cancel()


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
