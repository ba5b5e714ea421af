"""Celery entry points of the agents app: ids in, one service call, idempotent (queue `agents`)."""
from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.core.queues import CeleryQueue

from . import services


@shared_task(name="apps.agents.tasks.task_forward", queue=CeleryQueue.AGENTS.value, acks_late=True, reject_on_worker_lost=True)
def task_forward(task_id: str) -> str:
    """Forward a task's pending turn to its agent over A2A (a second delivery finds it claimed and does nothing)."""
    return services.task_forward(task_id=task_id)


@shared_task(name="apps.agents.tasks.task_cancel_forward", queue=CeleryQueue.AGENTS.value, acks_late=True)
def task_cancel_forward(task_id: str) -> bool:
    """Tell the agent that a task was cancelled (`tasks/cancel`)."""
    return services.task_cancel_forward(task_id=task_id)


@shared_task(name="apps.agents.tasks.task_reap_stale", queue=CeleryQueue.AGENTS.value)
def task_reap_stale() -> dict[str, Any]:
    """Beat: time out overdue tasks, re-queue or fail those whose worker died."""
    return services.task_reap_stale()


@shared_task(name="apps.agents.tasks.agents_sweep_offline", queue=CeleryQueue.AGENTS.value)
def agents_sweep_offline() -> int:
    """Beat: mark agents offline that stopped sending heartbeats."""
    return services.agents_sweep_offline()
