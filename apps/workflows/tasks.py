"""Workflows background jobs (queue `workflows`): advancing runs, executing step attempts; the reaper (queue `default`)."""
from __future__ import annotations

from celery import shared_task

from apps.core.queues import CeleryQueue

from . import runner, schedules


@shared_task(queue=CeleryQueue.WORKFLOWS.value, acks_late=True)
def run_advance(run_id: str) -> str:
    """Move a run on: queue its ready steps, skip the blocked ones, end it when every step has ended (idempotent)."""
    return runner.run_advance(run_id=run_id)


@shared_task(queue=CeleryQueue.WORKFLOWS.value, acks_late=True)
def step_execute(run_id: str, index: int, attempt: int) -> str:
    """Run one attempt of one step (idempotent by run, step and attempt: a redelivery finds it claimed or ended)."""
    return runner.step_execute(run_id=run_id, index=index, attempt=attempt)


@shared_task(queue=CeleryQueue.DEFAULT.value)
def run_reap_stale() -> dict[str, int]:
    """Queue again the steps whose worker died, and advance runs left without work."""
    return runner.stale_reap()


@shared_task(queue=CeleryQueue.WORKFLOWS.value)
def schedule_fire(schedule_id: str) -> str | None:
    """Start a run of a scheduled workflow (sent by Celery beat from its database entry)."""
    return schedules.schedule_fire(schedule_id=schedule_id)
