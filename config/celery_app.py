"""The Celery application: configured from Django settings (CELERY_*), tasks autodiscovered."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("nexus")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _configure_from_apps(sender: Celery, **kwargs: object) -> None:
    """Declare the queues and the beat schedule the installed apps declare (Django is set up by now)."""
    from django.conf import settings

    from apps.core.queues import celery_queues
    from apps.core.registry import beat_schedule

    sender.conf.task_queues = celery_queues()
    sender.conf.beat_schedule = {**beat_schedule(), **settings.CELERY_BEAT_SCHEDULE}


from apps.core.heartbeat import WorkerHeartbeat  # noqa: E402

app.steps["worker"].add(WorkerHeartbeat)


from celery.signals import worker_process_init  # noqa: E402


@worker_process_init.connect
def _forget_inherited_db_pools(**kwargs: object) -> None:
    """A forked worker child must not share its parent's PostgreSQL pool (its sockets and thread)."""
    from django.db import connections
    from django.db.backends.postgresql.base import DatabaseWrapper

    # Dropped, not closed: closing would end the parent's sessions.
    DatabaseWrapper._connection_pools.clear()  # type: ignore[attr-defined]  # private Django attribute the stubs leave out
    for connection in connections.all(initialized_only=True):
        connection.connection = None

    from apps.llm.providers import preload_adapters

    preload_adapters()  # before any task runs an event loop
