"""Assistant Architect background jobs: running an execution, and the reaper of vanished workers."""
from __future__ import annotations

from celery import shared_task

from apps.core.queues import CeleryQueue

from . import runner, services


@shared_task(queue=CeleryQueue.LLM.value, acks_late=True)
def execution_run(execution_id: str) -> str:
    """Run an execution (idempotent: claims it first; completed prompts are skipped)."""
    return runner.execution_run(execution_id=execution_id)


@shared_task(queue=CeleryQueue.DEFAULT.value)
def execution_reap_stale() -> dict[str, int]:
    """Re-queue or fail executions whose worker stopped sending heartbeats; fail overdue ones."""
    return services.execution_reap_stale()
