"""Cancelling and leasing long runs (chat replies, chain executions, and every later run type).

A run is cancelled from anywhere (another web process, the API, the admin) by setting its cancel
flag in Redis; the process running it watches the flag, and cancels the run's task within
`RUN_CANCEL_POLL_SECONDS`. The same watch loop renews the run's lease (its heartbeat) every
`beat_every` seconds and can stop the run for reasons of its own (a deadline, a lost lease):

    main = asyncio.ensure_future(work())
    watcher = asyncio.ensure_future(run_watch(cancel_key("architect", run_id), main,
                                              beat=renew, beat_every=10, check=past_deadline))
    ...
    reason = watcher.result()  # "cancelled", "lost", what `check` returned, or None

`worker_id()` names the process that holds a lease, the same way for web processes and workers.

A cancel is delivered until it lands. asyncio's `Task.cancel()` is edge-triggered: a library that
catches the CancelledError by mistake turns the stop into nothing, and the run goes on to its end
(anyio's cancel scopes, under httpx, can swallow a native cancel that arrives in the same loop
iteration as their own: a stopped chat reply ran on for its full 40 s about once in 30 stops under
load). `run_cancel` cancels the run again every `RUN_CANCEL_POLL_SECONDS` until it has ended.
"""
from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from django.conf import settings

from .loops import Detached, LoopLocal
from .redis_client import redis_async, redis_sync

logger = logging.getLogger("nexus.runs")

T = TypeVar("T")

CANCELLED = "cancelled"
# Longest wait for one read of a cancel flag (the watcher's own clients had a 2 s read timeout).
FLAG_READ_TIMEOUT_SECONDS = 2.0
LOST = "lost"

_redelivering = Detached()  # the tasks that re-deliver cancels


def worker_id() -> str:
    """host:pid of this process (computed per call: a forked worker has its own pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def cancel_key(kind: str, run_id: object) -> str:
    """The Redis key that asks run `run_id` of `kind` (chat, architect, ...) to stop."""
    return f"nexus:cancel:{kind}:{run_id}"


def cancel_request(key: str, *, ttl: int = 3600) -> None:
    """Ask the run behind `key` to stop, wherever it runs (the flag outlives the run by at most `ttl` s)."""
    redis_sync().set(key, "1", ex=max(1, int(ttl)))


def run_cancel(target: asyncio.Future[Any], reason: str) -> None:
    """Cancel `target` now, and again every RUN_CANCEL_POLL_SECONDS until it has ended (see the module docstring)."""
    target.cancel()
    if target.done():
        return
    _redelivering.start(_redeliver(target, reason))


async def _redeliver(target: asyncio.Future[Any], reason: str) -> None:
    while not target.done():
        await asyncio.wait({target}, timeout=settings.RUN_CANCEL_POLL_SECONDS)
        if not target.done():
            # Something caught the CancelledError and carried on; what keeps running pays the provider.
            logger.warning("A run asked to stop (%s) is still running; cancelling it again", reason)
            target.cancel()


async def cancel_clear(key: str) -> None:
    """Drop a cancel flag once its run has ended (best effort: the flag expires by itself)."""
    try:
        await redis_async().delete(key)
    except Exception:
        logger.warning("Could not clear the cancel flag %s; it expires by itself", key)


class _FlagWatcher:
    """Reads the cancel flags of every run watched on one event loop, in one MGET per tick.

    500 chat replies streamed by one process cost five reads a second, not 2 500 (each with its
    own timeout task): the per-run reads were a tenth of the process's CPU at that load.
    """

    def __init__(self) -> None:
        self.waiters: dict[str, set[asyncio.Future[None]]] = {}
        self.task: asyncio.Task[None] | None = None

    def watch(self, key: str) -> asyncio.Future[None]:
        """A future that is resolved once `key`'s flag is seen set."""
        flag: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.setdefault(key, set()).add(flag)
        if self.task is None or self.task.done():
            # A fresh context: the watcher outlives the run that started it.
            self.task = asyncio.get_running_loop().create_task(self._run(), name="cancel-flags", context=contextvars.Context())
        return flag

    def unwatch(self, key: str, flag: asyncio.Future[None]) -> None:
        """Stop watching for `flag`."""
        waiting = self.waiters.get(key)
        if waiting is not None:
            waiting.discard(flag)
            if not waiting:
                del self.waiters[key]
        if not flag.done():
            flag.cancel()

    async def _run(self) -> None:
        client = redis_async()
        while self.waiters:
            keys = list(self.waiters)
            try:
                # Bounded: the async pool has no read timeout (blocking XREADs share it), and a read
                # that never returns would leave every run unstoppable. The next tick reads again.
                values = await asyncio.wait_for(client.mget(keys), timeout=FLAG_READ_TIMEOUT_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception:  # a Redis hiccup never stops a run; the flags are read again on the next tick
                logger.warning("Could not read %d cancel flags", len(keys))
                values = [None] * len(keys)
            for key, value in zip(keys, values, strict=True):
                if value is not None:
                    for flag in self.waiters.pop(key, ()):
                        if not flag.done():
                            flag.set_result(None)
            await asyncio.sleep(settings.RUN_CANCEL_POLL_SECONDS)


_watchers: LoopLocal[_FlagWatcher] = LoopLocal(_FlagWatcher)


async def _flag_set(key: str) -> bool:
    """One direct read of a cancel flag (False when Redis does not answer in time)."""
    try:
        return bool(await asyncio.wait_for(redis_async().exists(key), timeout=FLAG_READ_TIMEOUT_SECONDS))
    except Exception:
        return False


async def run_watch(key: str, target: asyncio.Future[Any], *, beat: Callable[[], Awaitable[bool]] | None = None,
                    beat_every: float = 0.0, check: Callable[[], str | None] | None = None) -> str | None:
    """Cancel `target` when the run is asked to stop, loses its lease, or `check` says so; returns why (or None).

    `beat()` renews the lease every `beat_every` seconds and returns False when the run is no
    longer this process's (re-queued elsewhere, reaped): the run then stops with `lost`. A Redis
    hiccup never stops a run; the flag is read again on the next tick.
    """
    watcher = _watchers.get()
    flag = watcher.watch(key)
    last_beat = time.monotonic()
    try:
        while not target.done():
            if flag.done():
                run_cancel(target, CANCELLED)
                return CANCELLED
            reason = check() if check is not None else None
            if beat is not None and not reason and time.monotonic() - last_beat >= beat_every:
                last_beat = time.monotonic()
                try:
                    alive = await beat()
                except Exception:  # a database hiccup: the lease is renewed on the next beat
                    logger.warning("Could not renew the lease behind %s", key)
                    alive = True
                reason = None if alive else LOST
            if reason:
                # A stop asked for just now is the reason (the shared read may not have seen it yet):
                # cancelling a run also ends its lease, and must not read as a lost run.
                if flag.done() or await _flag_set(key):
                    reason = CANCELLED
                run_cancel(target, reason)
                return reason
            # Woken by the end of the run or by its flag; with nothing else to do, no timer at all.
            timeout = settings.RUN_CANCEL_POLL_SECONDS if (beat is not None or check is not None) else None
            await asyncio.wait({target, flag}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        return None
    finally:
        watcher.unwatch(key, flag)


async def shielded(awaitable: Awaitable[T]) -> T:
    """Await `awaitable` to its end even when the awaiting task is being cancelled (cleanup that must finish)."""
    task = asyncio.ensure_future(awaitable)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        return await task
