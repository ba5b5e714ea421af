"""Worker heartbeats in Redis, so /health counts live workers without a slow broadcast."""
from __future__ import annotations

import logging
import time
from typing import Any

from celery import bootsteps

logger = logging.getLogger("nexus.heartbeat")

HEARTBEAT_PREFIX = "nexus:worker:"


def _redis() -> Any:
    from .redis_client import redis_sync

    return redis_sync()


def heartbeat_write(*, hostname: str, client: Any = None) -> None:
    """Record that a worker is alive; the key expires unless renewed."""
    from django.conf import settings

    try:
        (client or _redis()).set(f"{HEARTBEAT_PREFIX}{hostname}", str(time.time()), ex=settings.WORKER_HEARTBEAT_TTL)
    except Exception:  # Redis down: health reports that on its own
        logger.warning("Could not write worker heartbeat for %s", hostname)


def heartbeat_clear(*, hostname: str) -> None:
    """Forget a worker that is shutting down cleanly."""
    try:
        _redis().delete(f"{HEARTBEAT_PREFIX}{hostname}")
    except Exception:
        pass


def live_workers(client: Any) -> list[str]:
    """Hostnames of workers with a current heartbeat."""
    names = []
    for key in client.scan_iter(match=f"{HEARTBEAT_PREFIX}*", count=100):
        raw = key.decode() if isinstance(key, bytes) else key
        names.append(raw[len(HEARTBEAT_PREFIX):])
    return sorted(names)


class WorkerHeartbeat(bootsteps.StartStopStep):
    """A Celery worker bootstep that renews the worker's heartbeat on the worker's own timer."""

    requires = ("celery.worker.components:Timer",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.tref: Any = None
        self.client: Any = None

    def start(self, worker: Any) -> None:
        from django.conf import settings

        self.client = _redis()
        heartbeat_write(hostname=worker.hostname, client=self.client)
        self.tref = worker.timer.call_repeatedly(
            settings.WORKER_HEARTBEAT_INTERVAL, heartbeat_write, kwargs={"hostname": worker.hostname, "client": self.client}
        )

    def stop(self, worker: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
        heartbeat_clear(hostname=worker.hostname)
