"""Tasks left to run on their own (`Detached`): they run to the end unreferenced, and `drain` waits for them all."""
from __future__ import annotations

import asyncio
import gc

from apps.core.loops import Detached


async def test_a_task_nobody_references_runs_to_its_end_through_a_garbage_collection() -> None:
    detached = Detached()
    done: list[str] = []
    release = asyncio.Event()

    async def work() -> None:
        await release.wait()
        done.append("finished")

    detached.start(work(), name="detached-test")  # the task object itself is dropped here
    await asyncio.sleep(0)
    gc.collect()
    assert len(detached) == 1
    release.set()
    await detached.drain()
    assert done == ["finished"]
    assert len(detached) == 0  # an ended task is let go


async def test_drain_waits_for_tasks_started_while_it_waits_and_survives_their_errors() -> None:
    detached = Detached()
    order: list[str] = []

    async def second() -> None:
        await asyncio.sleep(0.01)
        order.append("second")

    async def first() -> None:
        await asyncio.sleep(0.01)
        detached.start(second())  # started behind a first one, as a settlement queued behind an answer
        order.append("first")
        raise RuntimeError("a failure is the task's own to log")

    detached.start(first())
    await detached.drain()
    assert order == ["first", "second"]
    assert len(detached) == 0
