"""Celery: broker, delivery guarantees, worker heartbeats. Apps declare their queues and beat entries (apps.core.registry)."""
from __future__ import annotations

from .channels import REDIS_URL
from .environment import env
from .general import TIME_ZONE

__all__ = [
    "CELERY_ACCEPT_CONTENT", "CELERY_BEAT_SCHEDULE", "CELERY_BEAT_SCHEDULER", "CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP",
    "CELERY_BROKER_TRANSPORT_OPTIONS", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_RESULT_SERIALIZER",
    "CELERY_TASK_ACKS_LATE", "CELERY_TASK_ALWAYS_EAGER", "CELERY_TASK_DEFAULT_QUEUE", "CELERY_TASK_IGNORE_RESULT",
    "CELERY_TASK_REJECT_ON_WORKER_LOST", "CELERY_TASK_SERIALIZER", "CELERY_TIMEZONE", "CELERY_WORKER_HIJACK_ROOT_LOGGER",
    "CELERY_WORKER_PREFETCH_MULTIPLIER", "WORKER_HEARTBEAT_INTERVAL", "WORKER_HEARTBEAT_TTL",
]

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task that is not acked within this window is redelivered; longer than any task may run.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Seconds between a worker's heartbeats in Redis, and how long one stays valid.
WORKER_HEARTBEAT_INTERVAL = env.int("WORKER_HEARTBEAT_INTERVAL", default=10)
WORKER_HEARTBEAT_TTL = env.int("WORKER_HEARTBEAT_TTL", default=30)

# Each app declares its own beat entries on its AppConfig (apps.core.registry); entries here are added
# to those (an operator's extra schedule) and win on a name clash.
CELERY_BEAT_SCHEDULE: dict = {}
# Beat reads its entries from the database (django-celery-beat): the apps' entries above are copied there
# at start, and workflow schedules are rows written by apps.workflows.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
