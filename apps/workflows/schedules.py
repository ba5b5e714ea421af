"""Workflow schedules: a cron expression in a time zone, stored as a django-celery-beat PeriodicTask that beat runs."""
from __future__ import annotations

import json
import zoneinfo
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from apps.core.errors import ValidationError

from .models import Schedule, Trigger, Workflow
from .services import run_start

if TYPE_CHECKING:
    from apps.accounts.models import User

FIRE_TASK = "apps.workflows.tasks.schedule_fire"
MAX_SCHEDULES = 10


def _cron_fields(cron: Any) -> list[str]:
    """The five fields of a standard cron expression (400 when it is not one)."""
    from celery.schedules import crontab

    if not isinstance(cron, str) or len(cron.split()) != 5:
        raise ValidationError("A cron expression has five fields: minute hour day-of-month month day-of-week.",
                              details={"cron": ["Five fields: minute hour day-of-month month day-of-week."]})
    fields = cron.split()
    try:
        crontab(minute=fields[0], hour=fields[1], day_of_month=fields[2], month_of_year=fields[3], day_of_week=fields[4])
    except (ValueError, TypeError, IndexError) as exc:
        raise ValidationError(f"Not a valid cron expression: {exc}", details={"cron": [f"Not a valid cron expression: {exc}"]}) from exc
    return fields


def _zone(name: Any) -> str:
    if name in (None, ""):
        return "UTC"
    try:
        zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError("Unknown time zone.", details={"timezone": ["An IANA time zone name, such as Europe/Paris."]}) from None
    return str(name)


@transaction.atomic
def schedule_create(*, user: User, workflow: Workflow, cron: Any, timezone: Any = None, input: Any = None) -> Schedule:
    """Store a schedule and its beat entry (cron in `timezone`); the runs are `user`'s."""
    fields = _cron_fields(cron)
    zone = _zone(timezone)
    if input is not None and not isinstance(input, dict):
        raise ValidationError("The input must be a JSON object.", details={"input": ["A JSON object."]})
    if Schedule.objects.filter(workflow=workflow).count() >= MAX_SCHEDULES:
        raise ValidationError(f"A workflow has at most {MAX_SCHEDULES} schedules.", details={"cron": ["Too many schedules."]})
    crontab, _ = CrontabSchedule.objects.get_or_create(minute=fields[0], hour=fields[1], day_of_month=fields[2],
                                                       month_of_year=fields[3], day_of_week=fields[4], timezone=zone)
    schedule = Schedule.objects.create(workflow=workflow, created_by=user, cron=" ".join(fields), timezone=zone, input=input or {})
    schedule.periodic_task = PeriodicTask.objects.create(
        name=f"workflow-schedule-{schedule.pk}", task=FIRE_TASK, crontab=crontab, args=json.dumps([str(schedule.pk)]),
        queue="workflows", enabled=True,
    )
    schedule.save(update_fields=["periodic_task"])
    return schedule


@transaction.atomic
def schedule_delete(*, schedule: Schedule) -> None:
    """Remove a schedule and its beat entry."""
    if schedule.periodic_task_id:
        PeriodicTask.objects.filter(pk=schedule.periodic_task_id).delete()
    schedule.delete()


def schedule_fire(*, schedule_id: Any) -> str | None:
    """Beat's call: start a run of the schedule's workflow (None when the schedule is gone)."""
    schedule = Schedule.objects.select_related("workflow", "created_by").filter(pk=schedule_id).first()
    if schedule is None:
        return None
    run, _ = run_start(user=schedule.created_by, workflow=schedule.workflow, input=schedule.input, trigger=Trigger.SCHEDULE)
    return str(run.pk)
