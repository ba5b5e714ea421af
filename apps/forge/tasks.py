"""Forge background jobs: running a build (queue `builds`), and the reaper of builds whose worker died."""
from __future__ import annotations

from celery import shared_task

from apps.core.queues import CeleryQueue

from . import runner, services


@shared_task(queue=CeleryQueue.BUILDS.value, acks_late=True)
def build_run(build_id: str) -> str:
    """Run a build (idempotent: only an `initializing` build is claimed, so a redelivery does nothing)."""
    return runner.build_run(build_id=build_id)


@shared_task(queue=CeleryQueue.DEFAULT.value)
def build_reap_stale() -> dict[str, int]:
    """Fail builds whose worker stopped renewing their heartbeat."""
    return services.build_reap_stale()
