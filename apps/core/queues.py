"""Celery queues: apps declare them on their AppConfig (`queues`); Celery declares every one of them."""
from __future__ import annotations

from enum import StrEnum
from importlib import import_module
from typing import Any

from django.db import transaction
from kombu import Queue

from .registry import queue_names


class CeleryQueue(StrEnum):
    """Names of the queues the shipped apps declare, for `@shared_task(queue=CeleryQueue.LLM.value)`."""

    DEFAULT = "default"
    LLM = "llm"
    INGEST = "ingest"
    BUILDS = "builds"
    AGENTS = "agents"
    WORKFLOWS = "workflows"


def celery_queues() -> tuple[Queue, ...]:
    """Kombu queue declarations for every queue an installed app declares."""
    return tuple(Queue(name, routing_key=name) for name in queue_names())


def all_queue_names() -> str:
    """Comma-separated names, for `celery worker -Q`."""
    return ",".join(queue_names())


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
