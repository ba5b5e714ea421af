"""Celery tasks of the accounts app: ids in, one service call."""
from __future__ import annotations

from celery import shared_task

from apps.core.queues import CeleryQueue

from . import services


@shared_task(queue=CeleryQueue.DEFAULT.value, ignore_result=True)
def password_reset_mail_send(user_id: str) -> None:
    """Mail a password reset link (a retried task mails a second valid link, which is harmless)."""
    services.password_reset_mail_send(user_id=user_id)


@shared_task(queue=CeleryQueue.DEFAULT.value, ignore_result=True)
def invitation_mail_send(invitation_id: str) -> None:
    """Mail a workspace invitation's link (a retry mints a new link, and only the newest one works)."""
    services.invitation_mail_send(invitation_id=invitation_id)
