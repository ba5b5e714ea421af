"""One object per event loop: the process-wide helpers that batch work for every task of a loop."""
from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class LoopLocal(Generic[T]):
    """An instance of `factory()` per running event loop, dropped with its loop.

    The stream reader, the cancel-flag watcher, the write-behind writer and the chat reply saver
    each serve every task of one loop (a web process has one; tests and workers run several).
    """

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def get(self) -> T:
        """The running loop's instance, made on first use."""
        loop = asyncio.get_running_loop()
        value = self._by_loop.get(loop)
        if value is None:
            value = self._by_loop[loop] = self._factory()
        return value

    def peek(self) -> T | None:
        """The running loop's instance, if it has one."""
        return self._by_loop.get(asyncio.get_running_loop())

    def replace(self) -> T:
        """A fresh instance for the running loop (the previous one has ended)."""
        value = self._by_loop[asyncio.get_running_loop()] = self._factory()
        return value

    def __getitem__(self, loop: asyncio.AbstractEventLoop) -> T:
        return self._by_loop[loop]


class Detached:
    """Tasks nobody awaits, held until they end: the loop keeps only weak references to its tasks.

    A task started and left to run (a chat reply, a settlement behind an answer, a batch of Redis
    commands) would otherwise be garbage collected half-way. `drain()` waits for those still running
    (tests, a stopping server).
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        """Run `coro` as a task of the running loop, held until it ends."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every held task has ended, also those started meanwhile (their errors are theirs to log)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


async def _closer(close: Callable[[], Awaitable[Any]]) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await close()


_closers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[AsyncIterator[None]]] = weakref.WeakKeyDictionary()


def at_loop_end(close: Callable[[], Awaitable[Any]]) -> None:
    """Await `close()` on the running loop as it shuts down, so what it opened is closed by it.

    asyncio has no hook for a loop's end, but `asyncio.run` (and so asgiref's `async_to_sync` in a
    Celery task or a sync view, and pytest's loops) closes the loop's open async generators first
    (`shutdown_asyncgens`). So this starts one that waits at its `yield` and runs `close()` when it
    is closed. A loop closed without that step (a bare `loop.close()`) never runs it.
    """
    loop = asyncio.get_running_loop()
    closer = _closer(close)
    _closers.setdefault(loop, []).append(closer)  # the loop's own set of async generators is weak
    step = closer.__anext__()  # on this loop's thread, so asyncio's first-iteration hook registers it
    try:
        step.send(None)  # type: ignore[attr-defined]  # runs it up to its yield
    except StopIteration:
        pass
