"""The one loop of the lost-work reapers: rows stuck in a state past their deadline go back on the queue or are given up.

A worker killed mid-job leaves its row `running` with a heartbeat that stopped; a message lost with
a worker that had prefetched it leaves its row queued and never claimed. Each app's beat reaper
says which rows are stuck (a queryset: states and deadline), how to put one back (the fields of one
conditional UPDATE), how to queue it again, and, with an attempt limit, how to give up on one.
`stuck_reap` does the rest the same way for every app: each row is put back only if it is still
stuck (its worker may have come back, or another reaper took it), so a row is queued once.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet


@dataclass
class Reaped:
    """How many stuck rows went back on the queue and how many were given up."""

    requeued: int = 0
    failed: int = 0


def stuck_reap(stuck: QuerySet[Any], *, put_back: dict[str, Any], requeue: Callable[[Any], None],
               max_attempts: int | None = None, give_up: Callable[[Any], bool] | None = None,
               fields: Sequence[str] = ()) -> Reaped:
    """Put each row of `stuck` back (`put_back`, one UPDATE re-checking `stuck`) and `requeue(row)` it.

    `row` is a named tuple of `pk`, `attempts` (with `max_attempts`) and `fields`. A row whose
    `attempts` reached `max_attempts` is handed to `give_up(row)` instead (True when that ended it).
    """
    if max_attempts is not None and give_up is None:
        raise ValueError("An attempt limit needs a give_up callback.")
    names = ["pk", *(["attempts"] if max_attempts is not None else []), *fields]
    reaped = Reaped()
    for row in stuck.values_list(*names, named=True):
        if max_attempts is not None and give_up is not None and row.attempts >= max_attempts:
            if give_up(row):
                reaped.failed += 1
            continue
        # Only if still stuck: its worker may have come back, or another reaper took it first.
        if stuck.filter(pk=row.pk).update(**put_back):
            requeue(row)
            reaped.requeued += 1
    return reaped
