"""Tasks left to run on their own (`Detached`): they run to the end unreferenced, and `drain` waits for them all."""
from __future__ import annotations

import asyncio
import gc
import weakref

from apps.core.loops import Detached


async def test_a_task_nobody_references_runs_to_its_end_through_a_garbage_collection() -> None:
    detached = Detached()
    waiting: list[weakref.ref[asyncio.Future[str]]] = []
    done: list[str] = []

    async def work() -> None:
        # A future only this task references (as a provider call's socket read is): without a strong
        # reference to the task, the task and its future are a cycle the collector frees.
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        waiting.append(weakref.ref(future))
        done.append(await future)

    detached.start(work(), name="detached-test")  # the task object itself is dropped here
    await asyncio.sleep(0)
    gc.collect()
    future = waiting[0]()
    assert future is not None, "the task was garbage collected half-way"
    assert len(detached) == 1
    future.set_result("finished")
    del future
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
