"""Health checks of what Nexus depends on: database, Redis, workers, storage, providers.

Each check returns `{"status": "ok" | "degraded" | "down" | "not_configured", ...}`. The database
is the only thing without which Nexus cannot answer at all (`unhealthy`, 503); anything else
that is down makes it `degraded`. Apps add checks with `register_check` (the LLM app adds
`providers`), and a check must be cheap: cache anything that calls out.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from .heartbeat import live_workers
from .redis_client import redis_sync

logger = logging.getLogger("nexus.health")

Check = Callable[[], dict[str, Any]]
_checks: dict[str, Check] = {}
CRITICAL = {"database"}


def register_check(name: str, check: Check) -> None:
    """Add (or replace) a named check to the health report."""
    _checks[name] = check


def _timed(check: Check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = check()
    except Exception as exc:  # a failing check is a finding, not a crash
        result = {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
    result.setdefault("latency_ms", round((time.perf_counter() - started) * 1000, 2))
    return result


def check_database() -> dict[str, Any]:
    """SELECT 1 on the default database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": "ok"}


def _redis_client() -> Any:
    return redis_sync()


def check_redis() -> dict[str, Any]:
    """PING the Redis that is broker, cache and stream store."""
    _redis_client().ping()
    return {"status": "ok"}


def check_workers() -> dict[str, Any]:
    """Workers with a fresh heartbeat (written by each worker every few seconds)."""
    workers = live_workers(_redis_client())
    if not workers:
        return {"status": "down", "count": 0, "error": "No Celery worker has sent a heartbeat recently."}
    return {"status": "ok", "count": len(workers)}


def check_storage() -> dict[str, Any]:
    """The file store: a writable media folder, or a reachable S3 bucket (cached 30 s)."""
    if settings.AWS_STORAGE_BUCKET_NAME:
        cached = cache.get("health:storage")
        if cached is not None:
            return cached
        from django.core.files.storage import default_storage

        default_storage.bucket.meta.client.head_bucket(Bucket=settings.AWS_STORAGE_BUCKET_NAME)  # type: ignore[attr-defined]  # the S3 storage has `bucket`; Storage does not
        result = {"status": "ok", "backend": "s3"}
        cache.set("health:storage", result, 30)
        return result
    root = settings.MEDIA_ROOT
    os.makedirs(root, exist_ok=True)
    if not os.access(root, os.W_OK):
        return {"status": "down", "backend": "filesystem", "error": "The media folder is not writable."}
    return {"status": "ok", "backend": "filesystem"}


def check_providers() -> dict[str, Any]:
    """Placeholder until the LLM app registers its own check."""
    return {"status": "not_configured", "providers": []}


register_check("database", check_database)
register_check("redis", check_redis)
register_check("workers", check_workers)
register_check("storage", check_storage)
register_check("providers", check_providers)


def health_report() -> dict[str, Any]:
    """The body of /health: overall status, version, time, and each service's check."""
    services = {name: _timed(check) for name, check in _checks.items()}
    if any(services[name]["status"] == "down" for name in CRITICAL if name in services):
        status = "unhealthy"
    elif any(result["status"] in ("down", "degraded") for result in services.values()):
        status = "degraded"
    else:
        status = "healthy"
    return {
        "status": status,
        "version": settings.NEXUS_VERSION,
        "timestamp": datetime.now(tz=UTC).isoformat(),
        "services": services,
    }
