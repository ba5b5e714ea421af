"""Database helpers for long responses."""
from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.db.backends.signals import connection_created

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


def server_bound_cursor(alias: str = "default") -> Any:
    """A cursor that binds parameters server-side, for the statements every model call runs (`with server_bound_cursor() as cursor:`).

    Django's psycopg cursors bind client-side: each execute quotes every value into a new SQL text
    in Python. Bound server-side, the SQL text stays the same and the values travel apart: for the
    hold, the usage record and the settlement of a gateway call, 8 % less of the web process's CPU
    per call. (Not prepared: Django turns psycopg's prepared statements off by default, for
    connection poolers such as PgBouncer.) The cursor is Django's own class for
    `server_side_binding`, wrapped as `connection.cursor()` wraps one: same error translation and
    query logging. Statements run through it must type their values unambiguously (no bare `SELECT %s`).
    """
    from django.db.backends.postgresql import base as postgresql

    # The stubs know neither the cursor class (psycopg 3 only) nor `_prepare_cursor`, which `cursor()` itself uses.
    cursor_class: Any = postgresql.ServerBindingCursor
    connection: Any = connections[alias]
    connection.ensure_connection()
    with connection.wrap_database_errors:
        return connection._prepare_cursor(cursor_class(connection.connection))


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


def pool_check_if_quiet(conn: Any) -> None:
    """The pool's check of a connection it hands out, skipped when it handed that one out moments ago.

    Django's pool checks every connection it hands out with an empty query: a round trip, and about
    a tenth of a gateway call's CPU, as a request hands out a connection two or three times. A
    connection handed out within DATABASE_POOL_CHECK_AFTER_SECONDS was working then; one idle
    longer (the one a PostgreSQL restart could have killed) is still checked and replaced when dead.
    A connection killed while in steady use fails its request (503), and the pool drops it.
    """
    from psycopg_pool import ConnectionPool

    now = time.monotonic()
    if now - getattr(conn, "_nexus_handed_out_at", float("-inf")) >= settings.DATABASE_POOL_CHECK_AFTER_SECONDS:
        ConnectionPool.check_connection(conn)
    conn._nexus_handed_out_at = now


def _pool_check_install(sender: Any, connection: Any, **kwargs: Any) -> None:
    # Django builds the pool itself, with `check=ConnectionPool.check_connection` and no setting to
    # change it; the pool keeps the callable in `_check` (psycopg-pool is pinned in requirements.txt).
    pool = getattr(type(connection), "_connection_pools", {}).get(connection.alias)
    if pool is not None and getattr(pool, "_check", None) is not None and pool._check is not pool_check_if_quiet:
        pool._check = pool_check_if_quiet


def pool_check_tune() -> None:
    """Use `pool_check_if_quiet` in each pool once its first connection is made."""
    connection_created.connect(_pool_check_install, dispatch_uid="nexus-pool-check")
