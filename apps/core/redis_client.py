"""The one Redis client of a process: `redis_sync()` for sync code, `redis_async()` for the running event loop.

Limits, streams, cancel flags, heartbeats and /health all share them, so a process holds one
connection pool per side instead of one client (and socket) per call site or per request.

- The sync client is thread-safe (redis-py's pool hands each thread its own connection) and
  fork-safe (the pool notices a new pid and starts over), so Celery's prefork children and the
  web process's executor threads share one object. Its pool is bounded by `REDIS_MAX_CONNECTIONS` too.
- An asyncio connection belongs to the loop that opened it, so there is one async client per
  event loop (in practice one: daphne's; `async_to_sync` in a Celery task makes a short-lived one,
  whose connections are closed as it ends).
  Its pool is a blocking pool sized by `REDIS_MAX_CONNECTIONS`: the process's stream reader keeps
  one connection in a blocking `XREAD`, and a burst beyond the pool waits its turn instead of
  failing with "Too many connections".

Neither sets a read timeout on the async side: a blocking `XREAD` waits longer than any sane
timeout. Connecting is bounded (`REDIS_CONNECT_TIMEOUT`), so Redis being down fails fast.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import threading
import weakref
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from .loops import Detached, LoopLocal, at_loop_end

# A pooled connection idle this long is PINGed before use, and a command that finds its connection
# closed is retried on a new one (twice, 20-200 ms apart): connections left from before a Redis
# restart are replaced instead of failing requests, so recovery needs no process restart. A retry
# can only run a command twice if Redis executed it and then lost the connection before answering.
HEALTH_CHECK_SECONDS = 2


def _retry() -> Retry:
    return Retry(ExponentialBackoff(cap=0.2, base=0.02), 2)


def _aretry() -> AsyncRetry:
    return AsyncRetry(ExponentialBackoff(cap=0.2, base=0.02), 2)

_lock = threading.Lock()
_sync: redis.Redis | None = None
_async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()


def redis_sync() -> redis.Redis:
    """This process's sync Redis client."""
    global _sync
    if _sync is None:
        with _lock:
            if _sync is None:
                # Bounded like the async side: at most REDIS_MAX_CONNECTIONS sockets however many
                # threads ask at once; a thread beyond that waits for one (up to the socket timeout).
                pool = redis.BlockingConnectionPool.from_url(
                    settings.REDIS_URL, socket_connect_timeout=settings.REDIS_CONNECT_TIMEOUT,
                    socket_timeout=settings.REDIS_SOCKET_TIMEOUT, health_check_interval=HEALTH_CHECK_SECONDS,
                    retry=_retry(), retry_on_error=[redis.ConnectionError],
                    max_connections=settings.REDIS_MAX_CONNECTIONS, timeout=settings.REDIS_SOCKET_TIMEOUT,
                )
                _sync = redis.Redis(connection_pool=pool)
    return _sync


def redis_async() -> aioredis.Redis:
    """The async Redis client of the running event loop."""
    loop = asyncio.get_running_loop()
    client = _async.get(loop)
    if client is None:
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.REDIS_URL, socket_connect_timeout=settings.REDIS_CONNECT_TIMEOUT,
            max_connections=settings.REDIS_MAX_CONNECTIONS, timeout=20, health_check_interval=HEALTH_CHECK_SECONDS,
            retry=_aretry(), retry_on_error=[redis.ConnectionError],
        )
        client = aioredis.Redis(connection_pool=pool)
        _async[loop] = client
        at_loop_end(pool.disconnect)  # a short-lived loop's sockets close with it, not whenever the collector runs
    return client


def redis_reset() -> None:
    """Forget the clients (tests that point REDIS_URL elsewhere; the next call builds new ones)."""
    global _sync
    with _lock:
        if _sync is not None:
            _sync.close()
        _sync = None
    _async.clear()


_scripts: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def redis_script(client: Any, lua: str) -> Any:
    """`client.register_script(lua)`, once per client: each call then sends the script's hash (EVALSHA), not its text."""
    scripts = _scripts.setdefault(client, {})
    script = scripts.get(lua)
    if script is None:
        script = scripts[lua] = client.register_script(lua)
    return script


class _Coalescer:
    """The short commands one loop sends in one turn, sent to Redis together: one pipeline, one round trip.

    Under load, the requests a web process serves at once each send a command or two per call
    (their limits and slot, then the slot's release). Sent alone, each took a connection from the
    pool, went through redis-py's retry wrapper and waited for its own answer: about 0.14 ms of a
    gateway call's CPU apiece. Gathered until the loop's next turn (`call_soon`: after every
    callback already due), they share one. Each caller still awaits its own answer, so nothing
    changes for it but the cost: a command's error reaches its own caller, and only a lost store
    (the whole pipeline failing) reaches every caller of the batch.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[tuple[Any, ...], str | None, asyncio.Future[Any]]] = []

    def send(self, args: tuple[Any, ...], lua: str | None) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self.pending:
            loop.call_soon(self._start)
        self.pending.append((args, lua, future))
        return future

    def _start(self) -> None:
        batch, self.pending = self.pending, []
        _flushes.start(self._flush(batch))

    async def _flush(self, batch: list[tuple[tuple[Any, ...], str | None, asyncio.Future[Any]]]) -> None:
        client = redis_async()
        try:
            results = await self._run(client, [args for args, _lua, _future in batch])
            missing = [i for i, result in enumerate(results) if isinstance(result, redis.exceptions.NoScriptError)]
            if missing:  # Redis restarted (or flushed its scripts): load them once, then those commands again
                for lua in {batch[i][1] for i in missing}:
                    if lua is not None:
                        await client.script_load(lua)
                for i, result in zip(missing, await self._run(client, [batch[i][0] for i in missing]), strict=True):
                    results[i] = result
        except BaseException as exc:  # the store is down (or the loop is ending): every caller of the batch hears it
            for _args, _lua, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else redis.ConnectionError(str(exc)))
            if not isinstance(exc, Exception):
                raise
            return
        for (_args, _lua, future), result in zip(batch, results, strict=True):
            if future.done():  # its caller was cancelled meanwhile
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    @staticmethod
    async def _run(client: aioredis.Redis, commands: list[tuple[Any, ...]]) -> list[Any]:
        async with client.pipeline(transaction=False) as pipe:
            for args in commands:
                pipe.execute_command(*args)
            return list(await pipe.execute(raise_on_error=False))


_flushes = Detached()  # the batches being sent
_coalescers: LoopLocal[_Coalescer] = LoopLocal(_Coalescer)


async def redis_together(*args: Any) -> Any:
    """One Redis command on the running loop's client, sent with the others of this loop turn (`_Coalescer`)."""
    return await _coalescers.get().send(args, None)


async def redis_script_together(lua: str, *, keys: list[str], args: list[Any]) -> Any:
    """A Lua script run (EVALSHA) as `redis_together` sends commands; loaded again if Redis lost it."""
    return await _coalescers.get().send(("EVALSHA", _sha(lua), len(keys), *keys, *args), lua)


@functools.cache
def _sha(lua: str) -> str:
    return hashlib.sha1(lua.encode(), usedforsecurity=False).hexdigest()
