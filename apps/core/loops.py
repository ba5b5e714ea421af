"""One object per event loop: the process-wide helpers that batch work for every task of a loop."""
from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

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
