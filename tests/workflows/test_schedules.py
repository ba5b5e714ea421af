"""Schedules: stored for Celery beat's database scheduler (cron in a time zone), bad input refused, and a firing."""
from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from celery import current_app
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import ModelEntry

import apps.workflows.tasks  # noqa: F401  (registers the tasks, as a worker's autodiscovery does)
from apps.workflows.models import Run, Schedule
from tests.factories import UserFactory

from .conftest import client_for, condition, create

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():  # type: ignore[no-untyped-def]
    return UserFactory()


def test_a_schedule_is_a_beat_entry_in_its_time_zone_and_firing_starts_a_run(owner, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    client = client_for(owner)
    workflow_id = create(client, [condition("gate", "true")]).json()["id"]
    answer = client.post(f"/api/v1/workflows/{workflow_id}/schedules",
                         {"cron": "30 9 * * 1-5", "timezone": "Asia/Tokyo", "input": {"report": "daily"}}, format="json")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["cron"] == "30 9 * * 1-5" and body["timezone"] == "Asia/Tokyo" and body["enabled"] is True
    task = PeriodicTask.objects.get(pk=Schedule.objects.get(pk=body["id"]).periodic_task_id)
    assert task.task == "apps.workflows.tasks.schedule_fire" and json.loads(task.args) == [body["id"]]
    assert str(task.crontab.timezone) == "Asia/Tokyo" and (task.crontab.minute, task.crontab.hour) == ("30", "9")
    # beat's entry for it: due at 09:30 Tokyo time (00:30 UTC) on weekdays, not at 09:30 UTC
    entry = ModelEntry(task, app=current_app)
    tokyo = ZoneInfo("Asia/Tokyo")
    schedule = entry.schedule
    schedule.nowfun = lambda: datetime(2026, 12, 7, 9, 31, tzinfo=tokyo)  # a Monday
    assert schedule.is_due(datetime(2026, 12, 7, 9, 29, tzinfo=tokyo)).is_due is True
    schedule.nowfun = lambda: datetime(2026, 12, 7, 9, 29, tzinfo=tokyo)
    waiting = schedule.is_due(datetime(2026, 12, 7, 9, 0, tzinfo=tokyo))
    assert waiting.is_due is False and 0 < waiting.next <= 61
    schedule.nowfun = lambda: datetime(2026, 12, 7, 9, 31, tzinfo=ZoneInfo("UTC"))  # 18:31 in Tokyo
    assert schedule.is_due(datetime(2026, 12, 7, 9, 29, tzinfo=ZoneInfo("UTC"))).is_due is False
    # what beat sends when it is due: the task by name with the entry's arguments
    with django_capture_on_commit_callbacks(execute=False):
        run_id = current_app.tasks[entry.task].apply(args=entry.args).get()
    run = Run.objects.get(pk=run_id)
    assert run.trigger == "schedule" and run.input == {"report": "daily"} and run.user == owner
    listed = client.get(f"/api/v1/workflows/{workflow_id}/schedules").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == body["id"]
    assert client.delete(f"/api/v1/workflows/{workflow_id}/schedules/{body['id']}").status_code == 204
    assert not PeriodicTask.objects.filter(pk=task.pk).exists() and not Schedule.objects.exists()


@pytest.mark.parametrize(("body", "field"), [
    ({"cron": "every day"}, "cron"), ({"cron": "61 * * * *"}, "cron"), ({"cron": "* * * *"}, "cron"), ({}, "cron"),
    ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "timezone"), ({"cron": "0 9 * * *", "input": [1]}, "input"),
])
def test_bad_schedules_answer_400(owner, body, field) -> None:  # type: ignore[no-untyped-def]
    client = client_for(owner)
    workflow_id = create(client, [condition("gate", "true")]).json()["id"]
    answer = client.post(f"/api/v1/workflows/{workflow_id}/schedules", body, format="json")
    assert answer.status_code == 400 and field in answer.json()["error"]["details"]
    assert not PeriodicTask.objects.filter(task="apps.workflows.tasks.schedule_fire").exists()


def test_other_users_cannot_see_or_change_schedules(owner) -> None:  # type: ignore[no-untyped-def]
    client = client_for(owner)
    workflow_id = create(client, [condition("gate", "true")]).json()["id"]
    schedule_id = client.post(f"/api/v1/workflows/{workflow_id}/schedules", {"cron": "0 * * * *"}, format="json").json()["id"]
    stranger = client_for(UserFactory())
    assert stranger.get(f"/api/v1/workflows/{workflow_id}/schedules").status_code == 404
    assert stranger.post(f"/api/v1/workflows/{workflow_id}/schedules", {"cron": "0 * * * *"}, format="json").status_code == 404
    assert stranger.delete(f"/api/v1/workflows/{workflow_id}/schedules/{schedule_id}").status_code == 404
    assert Schedule.objects.count() == 1
