"""Voice background jobs."""
from __future__ import annotations

from celery import shared_task

from .services import voice_sessions_expire as _expire


@shared_task(queue="default", name="apps.voice.tasks.voice_sessions_expire")
def voice_sessions_expire() -> int:
    """End sessions idle for longer than VOICE_SESSION_IDLE_SECONDS (idempotent)."""
    return _expire()
