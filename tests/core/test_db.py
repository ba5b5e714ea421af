"""Code run on the event loop's shared executor threads hands its database connection back."""
from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.db import connection, connections

from apps.core.db import db_sync_to_async

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
