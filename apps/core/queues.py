"""The Celery queues, named in one place; tasks say `@shared_task(queue=CeleryQueue.LLM.value)`."""
from __future__ import annotations

from enum import StrEnum

from kombu import Queue


class CeleryQueue(StrEnum):
    """Queues by kind of work, so each can be given its own workers when scaling out."""

    DEFAULT = "default"
    LLM = "llm"
    INGEST = "ingest"
    BUILDS = "builds"
    AGENTS = "agents"


def celery_queues() -> tuple[Queue, ...]:
    """Kombu queue declarations for every CeleryQueue."""
    return tuple(Queue(queue.value, routing_key=queue.value) for queue in CeleryQueue)


def all_queue_names() -> str:
    """Comma-separated names, for `celery worker -Q`."""
    return ",".join(queue.value for queue in CeleryQueue)
