"""core.writebehind: bookkeeping queued behind answers runs in order, batched, and one bad job loses only itself."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone

from apps.core.writebehind import Row, write_behind, write_behind_flush


def _session(key: str) -> None:
    Session.objects.create(session_key=key, session_data="", expire_date=timezone.now() + timedelta(days=1))


def _recorded(seen: list[tuple[Any, int]], name: Any) -> Callable[[], None]:
    """A job that appends (name, the id of the transaction it ran in) to `seen`."""
    def job() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT txid_current()")
            seen.append((name, cursor.fetchone()[0]))
    return job


async def test_jobs_queued_together_share_one_transaction_in_their_order(transactional_db) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[Any, int]] = []
    for n in range(5):
        write_behind(_recorded(seen, n))
    await write_behind_flush()
    assert [n for n, _ in seen] == [0, 1, 2, 3, 4]
    assert len({txid for _, txid in seen}) == 1  # one commit for the five


async def test_a_failing_job_loses_only_itself(transactional_db) -> None:  # type: ignore[no-untyped-def]
    def broken() -> None:
        _session("wb-broken")
        raise RuntimeError("a job that fails half-way")

    write_behind(lambda: _session("wb-first"))
    write_behind(broken)
    write_behind(lambda: _session("wb-last"))
    await write_behind_flush()
    keys = await sync_to_async(lambda: sorted(Session.objects.filter(session_key__startswith="wb-").values_list("session_key", flat=True)))()
    assert keys == ["wb-first", "wb-last"]  # the broken job's own write was rolled back, the others kept


async def test_jobs_queued_while_a_batch_runs_go_in_the_next_one(transactional_db) -> None:  # type: ignore[no-untyped-def]
    order: list[str] = []
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow() -> None:
        loop.call_soon_threadsafe(started.set)
        order.append("slow")

    write_behind(slow)
    await started.wait()
    write_behind(lambda: order.append("later"))
    await write_behind_flush()
    assert order == ["slow", "later"]


async def test_jobs_that_lock_a_shared_row_run_last_in_their_batch(transactional_db) -> None:  # type: ignore[no-untyped-def]
    # A settlement locks its credit account until the batch commits; every new hold of that account
    # waits for that lock, so it is taken after the batch's other inserts, not before them.
    seen: list[tuple[Any, int]] = []
    write_behind(_recorded(seen, "settle-1"), locks=True)
    write_behind(_recorded(seen, "record-1"))
    write_behind(_recorded(seen, "settle-2"), locks=True)
    write_behind(_recorded(seen, "record-2"))
    await write_behind_flush()
    assert [name for name, _ in seen] == ["record-1", "record-2", "settle-1", "settle-2"]
    assert len({txid for _, txid in seen}) == 1  # still one commit


async def test_jobs_queued_within_the_linger_share_one_batch(transactional_db, settings) -> None:  # type: ignore[no-untyped-def]
    # Calls made one after another end a few milliseconds apart: their bookkeeping shares a commit.
    # (Both waits are timers of this one loop: the shorter one always fires first, whatever the load.)
    settings.WRITE_BEHIND_LINGER_MS = 200
    seen: list[tuple[Any, int]] = []
    write_behind(_recorded(seen, "first"))
    await asyncio.sleep(0.05)
    write_behind(_recorded(seen, "second"))
    await write_behind_flush()
    assert [name for name, _ in seen] == ["first", "second"] and seen[0][1] == seen[1][1]


async def test_jobs_queued_while_a_batch_runs_still_wait_the_linger_for_more(transactional_db, settings) -> None:  # type: ignore[no-untyped-def]
    # The linger comes before every batch, not only the first: written at once, the jobs queued
    # while a batch ran made batches of one call each for calls made one after another.
    import threading

    settings.WRITE_BEHIND_LINGER_MS = 200
    seen: list[tuple[Any, int]] = []
    started = asyncio.Event()
    release = threading.Event()
    loop = asyncio.get_running_loop()

    def slow() -> None:
        loop.call_soon_threadsafe(started.set)
        release.wait(10)

    write_behind(slow)
    await started.wait()
    write_behind(_recorded(seen, "during"))
    release.set()  # the first batch ends now
    await asyncio.sleep(0.05)
    write_behind(_recorded(seen, "after"))
    await write_behind_flush()
    assert [name for name, _ in seen] == ["during", "after"] and seen[0][1] == seen[1][1]


async def test_rows_of_one_writer_queued_in_a_row_are_written_by_one_call(transactional_db) -> None:  # type: ignore[no-untyped-def]
    # A dozen gateway calls' usage records: one INSERT, not a dozen round trips; a job between two
    # runs of rows keeps its place.
    calls: list[list[Any]] = []

    def bulk(values: list[Any]) -> None:
        calls.append(list(values))

    for n in range(3):
        write_behind(Row(bulk, n))
    write_behind(lambda: calls.append(["job"]))
    write_behind(Row(bulk, 3))
    await write_behind_flush()
    assert calls == [[0, 1, 2], ["job"], [3]]


async def test_a_bad_row_of_a_bulk_write_loses_only_itself(transactional_db) -> None:  # type: ignore[no-untyped-def]
    def sessions(keys: list[str]) -> None:
        for key in keys:
            if key == "wb-row-bad":
                raise RuntimeError("one row the statement cannot write")
            _session(key)

    for key in ("wb-row-1", "wb-row-bad", "wb-row-2"):
        write_behind(Row(sessions, key))
    await write_behind_flush()
    keys = await sync_to_async(lambda: sorted(Session.objects.filter(session_key__startswith="wb-row").values_list("session_key", flat=True)))()
    assert keys == ["wb-row-1", "wb-row-2"]  # the merged write failed, and was run again row by row
