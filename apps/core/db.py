"""Database helpers for long responses."""
from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections

P = ParamSpec("P")
T = TypeVar("T")


def release_db_connections() -> None:
    """Hand this thread's database connections back (to the pool) before a long stream starts.

    Django returns a request's connections only when the response is closed; for a stream that
    lasts minutes, hundreds of open streams would hold hundreds of connections doing nothing.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return  # the event loop's thread holds no request connection; async views call this via sync_to_async
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


def _release_after(func: Callable[P, T]) -> Callable[P, T]:
    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        finally:
            release_db_connections()

    return run


def db_sync_to_async(func: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """Run sync ORM code off the event loop on a shared executor thread, handing its connection back after.

    Django's connections belong to the thread. `sync_to_async(thread_sensitive=False)` runs on the
    loop's long-lived executor threads, where no request_finished ever closes them: each thread kept
    its pooled connection for good and a pool of N ran dry once N threads had run a query.
    """
    return sync_to_async(_release_after(func), thread_sensitive=False)


# How often a process's pool tries to reconnect while PostgreSQL is down. psycopg_pool backs off
# exponentially from 1 s (1, 2, 4, 8 s ...), so after an 8 s outage the next attempt could come 7 s
# after PostgreSQL is back; every request meanwhile waits DATABASE_POOL_TIMEOUT and answers 503.
# A flat second (one connect attempt per second per process while it is down) keeps recovery
# within about a second (make chaos measures it).
POOL_RECONNECT_SECONDS = 1.0


def pool_reconnect_tune() -> None:
    """Make the connection pool retry PostgreSQL every POOL_RECONNECT_SECONDS instead of backing off."""
    from psycopg_pool.base import AttemptWithBackoff  # the pool's own retry schedule (class attributes)

    AttemptWithBackoff.INITIAL_DELAY = POOL_RECONNECT_SECONDS
    AttemptWithBackoff.DELAY_BACKOFF = 1.0
