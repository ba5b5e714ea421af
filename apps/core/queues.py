"""The Celery queues, named in one place; tasks say `@shared_task(queue=CeleryQueue.LLM.value)`."""
from __future__ import annotations

from enum import StrEnum
from importlib import import_module
from typing import Any

from django.db import transaction
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


def enqueue(task: str, *args: Any, on_commit: bool = True) -> None:
    """Queue the Celery task registered as `task` (its dotted path), after the current transaction commits.

    Services queue work by name, so an app's tasks (entry points that call its services, like
    views) and its services never import each other: the import rules forbid that circle. The
    task runs eagerly where Celery is set to (tests), as `.delay()` would.
    """

    def send() -> None:
        from celery import current_app

        if task not in current_app.tasks:
            import_module(task.rsplit(".", 1)[0])  # registers it (the web process never autodiscovers)
        current_app.tasks[task].delay(*args)

    if on_commit:
        transaction.on_commit(send)
    else:
        send()
