"""Database helpers for long responses."""
from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
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


async def on_loop_or_thread(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`func(...)` right on the event loop when its in-process caches answer; in a worker thread when it needs the database.

    A warm gateway call's checks (the key, its user and roles, the tier, the model) are in-process
    caches: run on the loop, they cost no thread hop, and no thread then fights the loop for the
    GIL. A cold cache reaches for the ORM, which Django refuses on a running loop
    (SynchronousOnlyOperation) before it connects: the call then runs again, whole, in a thread.
    So `func` may do, before its first query, only what is safe to do twice: reads and in-process
    caches, never a Redis or database write. Code that would block the loop on anything else (a
    sync Redis read) raises SynchronousOnlyOperation itself (`forbid_on_loop`).
    """
    try:
        return func(*args, **kwargs)
    except SynchronousOnlyOperation:
        return await db_sync_to_async(func)(*args, **kwargs)


def forbid_on_loop(what: str) -> None:
    """Raise SynchronousOnlyOperation on a running event loop: `what` blocks, so `on_loop_or_thread` runs the caller in a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise SynchronousOnlyOperation(f"{what} blocks; call it from a thread, not the event loop.")


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


# ------------------------------------------------------------------------------
# The serving loop's own PostgreSQL connections (the gateway's per-call statements)
# ------------------------------------------------------------------------------
# The loop that serves HTTP in this process (marked by the ASGI handler on its first request). Only
# that loop gets an async pool: tests and Celery tasks run short-lived loops (`async_to_sync`), and
# a pool left on a loop that ended would keep its connections open with nothing to close them.
_serving_loop: weakref.ReferenceType[asyncio.AbstractEventLoop] | None = None
_apool: asyncio.Future[Any] | None = None  # that loop's pool, opening or open


def db_serving_loop_mark() -> None:
    """Mark the running loop as the one serving this process's requests (the first that asks; later ones are not)."""
    global _serving_loop, _apool
    if _serving_loop is None or _serving_loop() is None:
        _serving_loop = weakref.ref(asyncio.get_running_loop())
        _apool = None  # a pool opened on a loop that has ended went with it


async def _acheck_if_quiet(conn: Any) -> None:
    # As pool_check_if_quiet: a connection idle for a while (one a PostgreSQL restart could have killed) is checked first.
    from psycopg_pool import AsyncConnectionPool

    now = time.monotonic()
    if now - getattr(conn, "_nexus_handed_out_at", float("-inf")) >= settings.DATABASE_POOL_CHECK_AFTER_SECONDS:
        await AsyncConnectionPool.check_connection(conn)
    conn._nexus_handed_out_at = now


async def _apool_open(size: int) -> Any:
    from psycopg_pool import AsyncConnectionPool

    params: dict[str, Any] = dict(connections["default"].get_connection_params())
    params.pop("cursor_factory", None)  # Django's sync cursor class; psycopg's async default binds server-side
    params["autocommit"] = True  # each statement is its own transaction, as with Django's autocommit
    params.setdefault("application_name", "nexus-loop")  # told apart from the threads' connections in pg_stat_activity
    pool = AsyncConnectionPool(kwargs=params, min_size=min(1, size), max_size=size, open=False, check=_acheck_if_quiet,
                               timeout=settings.DATABASE_POOL_TIMEOUT, name="nexus-async")
    await pool.open()
    return pool


async def db_async_pool() -> Any | None:
    """The serving loop's async connection pool (`DATABASE_ASYNC_POOL_MAX` connections); None elsewhere or when off.

    Its connections count in the process's bound: the sync pool gets DATABASE_POOL_MAX minus
    these (config/settings/database.py). For one-statement calls on the hot path only (the
    gateway's credit hold): anything needing Django's ORM or a transaction stays in a thread.
    """
    global _apool
    size = settings.DATABASE_ASYNC_POOL_MAX
    if size <= 0 or not _on_serving_loop():
        return None
    if _apool is None:
        _apool = asyncio.ensure_future(_apool_open(size))
    opening = _apool
    try:
        return await asyncio.shield(opening)
    except Exception:
        if _apool is opening:  # PostgreSQL was down at the first call: try again next time
            _apool = None
        raise


async def db_async_pool_close() -> None:
    """Close the serving loop's async pool, if it has one (server stop)."""
    global _apool
    if not _on_serving_loop():
        return
    opening, _apool = _apool, None
    if opening is not None and opening.done() and opening.exception() is None:
        await opening.result().close()


def _on_serving_loop() -> bool:
    return _serving_loop is not None and _serving_loop() is asyncio.get_running_loop()
