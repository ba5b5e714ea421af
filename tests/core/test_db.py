"""Code run on the event loop's shared executor threads hands its database connection back."""
from __future__ import annotations

from decimal import Decimal

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
