"""Database helpers: executor threads hand their connections back; the loop runs warm checks itself and has a bounded pool of its own."""
from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from typing import Any

import psutil
import pytest
from asgiref.sync import async_to_sync
from django.db import connection, connections

from apps.core.db import db_sync_to_async, server_bound_cursor

pytestmark = pytest.mark.django_db


def _query_and_return_wrapper():  # type: ignore[no-untyped-def]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return connections["default"]  # this executor thread's DatabaseWrapper


def test_db_sync_to_async_closes_the_executor_threads_connection() -> None:
    wrapper = async_to_sync(db_sync_to_async(_query_and_return_wrapper))()
    # Without the hand-back, the long-lived executor thread kept it open for good (a pool ran dry).
    assert wrapper is not connections["default"]
    assert wrapper.connection is None


def test_db_sync_to_async_returns_the_functions_value_and_raises_its_errors() -> None:
    def fails() -> None:
        raise ValueError("boom")

    assert async_to_sync(db_sync_to_async(lambda: 42))() == 42
    with pytest.raises(ValueError):
        async_to_sync(db_sync_to_async(fails))()


def test_server_bound_cursor_binds_server_side_and_behaves_as_a_django_cursor() -> None:
    """The hot statements (hold, usage record, settlement) send their values apart from the SQL, and are still logged and translated."""
    import psycopg
    from django.db import IntegrityError, transaction
    from django.test.utils import CaptureQueriesContext

    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bound_probe (id integer PRIMARY KEY, note text, amount numeric, at timestamptz)")
    with CaptureQueriesContext(connection) as captured:
        for number in range(3):
            with server_bound_cursor() as cursor:
                assert not isinstance(cursor.cursor, psycopg.ClientCursor)  # Django's default cursor quotes values into the SQL
                cursor.execute("INSERT INTO bound_probe (id, note, amount, at) VALUES (%s, %s, %s, %s) RETURNING note, amount",
                               [number, f"it's #{number}; --", Decimal("1.25"), None])
                assert cursor.fetchone() == (f"it's #{number}; --", Decimal("1.25"))
    assert len(captured) == 3  # query logging (and so the tests that count statements) still sees them
    with pytest.raises(IntegrityError), transaction.atomic(), server_bound_cursor() as cursor:  # Django's error, not psycopg's
        cursor.execute("INSERT INTO bound_probe (id, note) VALUES (%s, %s)", [0, "again"])


@pytest.mark.django_db(transaction=True)
def test_the_pool_replaces_a_killed_connection_once_it_has_been_quiet(settings) -> None:  # type: ignore[no-untyped-def]
    """A connection PostgreSQL killed (a restart) is not handed out after the quiet time: it is checked and replaced."""
    import time

    from psycopg_pool import ConnectionPool

    from apps.core.db import pool_check_if_quiet

    settings.DATABASE_POOL_CHECK_AFTER_SECONDS = 0.2
    params = connection.get_connection_params()
    params["autocommit"] = True
    with ConnectionPool(kwargs=params, min_size=1, max_size=1, check=pool_check_if_quiet, open=True) as pool:
        with pool.connection() as conn:
            first_pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        with pool.connection() as conn:  # handed out again at once: the same, working connection
            assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] == first_pid
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [first_pid])
        time.sleep(0.3)
        with pool.connection() as conn:  # quiet long enough: checked, found dead, replaced
            assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] != first_pid


def _count_users_and_the_thread() -> tuple[int, int]:
    from apps.accounts.models import User

    return User.objects.count(), threading.get_ident()


def _the_thread() -> int:
    return threading.get_ident()


@pytest.mark.django_db(transaction=True)
def test_on_loop_or_thread_runs_on_the_loop_and_moves_to_a_thread_only_for_a_query() -> None:
    """Warm checks cost no thread hop; one that reaches for the ORM runs again, whole, in a thread (Django refuses it on the loop)."""
    from apps.accounts.models import User
    from apps.core.db import on_loop_or_thread

    users = User.objects.count()

    async def both() -> tuple[int, int, tuple[int, int]]:
        loop_thread = threading.get_ident()
        return loop_thread, await on_loop_or_thread(_the_thread), await on_loop_or_thread(_count_users_and_the_thread)

    loop_thread, plain, (count, queried) = asyncio.run(both())
    assert plain == loop_thread
    assert count == users and queried != loop_thread


def test_forbid_on_loop_only_refuses_on_a_running_loop() -> None:
    from django.core.exceptions import SynchronousOnlyOperation

    from apps.core.db import forbid_on_loop

    forbid_on_loop("a sync read")  # no loop here: allowed

    async def on_loop() -> None:
        forbid_on_loop("a sync read")

    with pytest.raises(SynchronousOnlyOperation, match="a sync read blocks"):
        asyncio.run(on_loop())


@pytest.mark.django_db(transaction=True)
def test_the_serving_loops_pool_is_bounded_and_other_loops_get_none(settings) -> None:  # type: ignore[no-untyped-def]
    """Only the loop that serves requests opens connections of its own, at most DATABASE_ASYNC_POOL_MAX; short-lived loops open none."""
    from apps.core import db

    settings.DATABASE_ASYNC_POOL_MAX = 2

    def backends() -> int:  # this process's loop connections (daphne processes of other tests have theirs)
        ports = [c.laddr.port for c in psutil.Process().net_connections(kind="tcp") if c.raddr and c.raddr.port == int(connection.settings_dict["PORT"])]
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'nexus-loop' AND client_port = ANY(%s)", [ports])
            return int(cursor.fetchone()[0])

    async def elsewhere() -> Any:
        return await db.db_async_pool()

    async def serving() -> tuple[int, int]:
        db._serving_loop = None  # an earlier test's loop may still be alive and marked
        db.db_serving_loop_mark()
        pool = await db.db_async_pool()
        assert pool is await db.db_async_pool()  # one per loop

        async def hold_one() -> None:
            async with pool.connection() as conn:
                await (await conn.execute("SELECT pg_sleep(0.2)")).fetchone()

        await asyncio.gather(*(hold_one() for _ in range(6)))  # six at once queue for two connections
        opened = pool.get_stats()["pool_size"]
        in_use = await db.db_sync_to_async(backends)()
        await db.db_async_pool_close()
        return opened, in_use

    try:
        assert asyncio.run(elsewhere()) is None  # not marked (and the test process's default is 0 anyway)
        opened, in_use = asyncio.run(serving())
    finally:
        db._serving_loop = None
    assert opened == 2 and in_use == 2
    assert backends() == 0  # closed with its loop's server
