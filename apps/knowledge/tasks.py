"""Celery tasks of the knowledge app: thin, idempotent, one service each."""
from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.core.queues import CeleryQueue

from . import services


@shared_task(bind=True, queue=CeleryQueue.INGEST.value, acks_late=True, reject_on_worker_lost=True)
def document_ingest(self: Any, document_id: str) -> None:
    """Extract, chunk and embed one document (a redelivered message resumes the same run)."""
    services.document_ingest(document_id=document_id, run_token=str(self.request.id or ""))


@shared_task(queue=CeleryQueue.INGEST.value)
def document_reap_stuck() -> int:
    """Beat: requeue or fail documents left `processing` by a worker that died."""
    return services.documents_reap_stuck()
