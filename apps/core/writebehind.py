"""Bookkeeping written behind the answer, many requests' worth in one thread hop and one commit.

The gateway answers before its usage record and its credit settlement are written (the client does
not wait for the ledger). Written one by one, each was a thread hand-off, a round trip and a commit
(an fsync on a durable database) per call. `write_behind(job)` queues a sync job for the event
loop's writer instead; the writer waits `WRITE_BEHIND_LINGER_MS` before each batch, then takes
everything queued so far and runs it in one hop to a thread, in one transaction, in the order it was
queued. Without the wait, calls made one after another each had a batch of their own, whose thread
ran beside the next call's checks; with it, the calls of those milliseconds share one batch.
Jobs that lock a shared row (`locks=True`: a settlement locks its credit account, which every new
hold of that account also updates) run after the batch's other jobs, still in their own order, so
the lock is held for those statements and the commit, not for the whole batch.

A job may be a `Row` for a bulk writer: rows of the same writer queued one after another in a batch
are written by one call of it (one statement for a dozen usage records, one for their settlements),
not one round trip each.

A job that fails rolls its batch back; the batch is then run again job by job, each in its own
transaction, so one bad job loses only itself (and is logged). Jobs therefore write with ids
chosen before they were queued (a usage record's id is in the answer already). `write_behind_flush()`
waits for everything queued (tests). When daphne stops (SIGTERM, SIGINT), it first cancels the
requests in flight, whose cleanup queues their last records and settlements, and then waits for
the writer and the settlements (`core.asgi.flush_on_server_stop`, set up in `config.asgi`). Only a process that is killed outright loses its queued jobs;
the holds they would have settled expire by themselves (`credit_reservations_expire`).
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from .db import db_sync_to_async
from .loops import LoopLocal

logger = logging.getLogger("nexus.writebehind")

Job = Callable[[], Any]


@dataclass(frozen=True, slots=True)
class Row:
    """One row for a bulk writer: `write(rows)` writes the values of every Row of it queued in a row at once."""

    write: Callable[[list[Any]], Any]
    values: Any

    def __call__(self) -> None:
        """Written alone (a batch that failed is run again job by job)."""
        self.write([self.values])


def _merged(jobs: list[Job]) -> list[Job]:
    """The jobs, with consecutive Rows of the same writer merged into one call of it (order kept)."""
    merged: list[Job] = []
    rows: list[Row] = []

    def close_run() -> None:
        if len(rows) == 1:
            merged.append(rows[0])
        elif rows:
            merged.append(functools.partial(rows[0].write, [row.values for row in rows]))
        rows.clear()

    for job in jobs:
        if isinstance(job, Row) and rows and job.write is rows[0].write:
            rows.append(job)
            continue
        close_run()
        if isinstance(job, Row):
            rows.append(job)
        else:
            merged.append(job)
    close_run()
    return merged


def _run_batch(jobs: list[Job]) -> None:
    try:
        with transaction.atomic():
            for job in _merged(jobs):
                job()
        return
    except Exception:
        if len(jobs) == 1:
            logger.exception("A write-behind job failed")
            return
    for job in jobs:  # one of them failed: the others must not be lost with it
        try:
            with transaction.atomic():
                job()
        except Exception:
            logger.exception("A write-behind job failed")


_arun_batch = db_sync_to_async(_run_batch)


class _Writer:
    """The queue of one event loop and the task that drains it."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self.locking: list[Job] = []
        self.task: asyncio.Task[None] | None = None

    def add(self, job: Job, *, locks: bool = False) -> None:
        (self.locking if locks else self.jobs).append(job)
        if self.task is None or self.task.done():
            # A fresh context: the writer outlives the request that queued its first job.
            self.task = asyncio.get_running_loop().create_task(self._run(), name="write-behind", context=contextvars.Context())

    async def _run(self) -> None:
        linger = settings.WRITE_BEHIND_LINGER_MS / 1000
        while self.jobs or self.locking:
            # Before every batch, not only the first: jobs queued while a batch ran were otherwise
            # written at once, and calls one after another settled into batches of one call each.
            if linger > 0:
                await asyncio.sleep(linger)
            batch, self.jobs, self.locking = self.jobs + self.locking, [], []
            await _arun_batch(batch)


_writers: LoopLocal[_Writer] = LoopLocal(_Writer)


def write_behind(job: Job, *, locks: bool = False) -> None:
    """Queue `job` (sync, database work) to run behind the current answer; `locks`: it locks a shared row (module docstring)."""
    _writers.get().add(job, locks=locks)


async def write_behind_flush() -> None:
    """Wait until every job queued on this loop has run."""
    writer = _writers.peek()
    while writer is not None and writer.task is not None and not writer.task.done():
        await asyncio.shield(writer.task)

