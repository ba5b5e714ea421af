"""Celery tasks of the billing app: thin, idempotent, one service call each."""
from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from apps.core.queues import CeleryQueue

from . import services


@shared_task(queue=CeleryQueue.DEFAULT.value)
def credits_reset_monthly() -> int:
    """The monthly reset (beat runs it daily; each account is reset once per period however often it runs)."""
    return services.credit_reset_due()


@shared_task(queue=CeleryQueue.DEFAULT.value)
def credit_account_reset(account_id: str) -> bool:
    """Reset one account for the current period if it was not yet."""
    return services.credit_account_reset(account_id=account_id)


@shared_task(queue=CeleryQueue.DEFAULT.value)
def credit_reservations_expire() -> int:
    """Release holds whose call died without settling."""
    return services.credit_reservations_expire(older_than=timedelta(seconds=settings.BILLING_RESERVATION_TTL_SECONDS))
