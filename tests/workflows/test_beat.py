"""A schedule fired by a real Celery beat (the database scheduler) and run by a real worker."""
from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask, PeriodicTasks

from apps.workflows.models import Run, Schedule
from tests.chat.conftest import make_caller
from tests.conftest import ROOT, WorkerProcess, stop_process, subprocess_env

from .conftest import client_for, condition, create

pytestmark = [pytest.mark.worker]


def test_beat_fires_a_due_schedule_and_the_worker_runs_it(flow_worker: WorkerProcess, tmp_path: Path) -> None:
    caller = make_caller()
    client = client_for(caller.user)
    workflow_id = create(client, [condition("gate", "input.report == 'daily'")]).json()["id"]
    answer = client.post(f"/api/v1/workflows/{workflow_id}/schedules",
                         {"cron": "* * * * *", "timezone": "Europe/Paris", "input": {"report": "daily"}}, format="json")
    assert answer.status_code == 201, answer.content
    task = PeriodicTask.objects.get(pk=Schedule.objects.get(pk=answer.json()["id"]).periodic_task_id)
    # Its minute has come: beat last ran it five minutes ago, so the entry is due as soon as beat reads it.
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=timezone.now() - timedelta(minutes=5))
    PeriodicTasks.update_changed()
    log_path = tmp_path / "beat.log"
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "info", "--scheduler",
         "django_celery_beat.schedulers:DatabaseScheduler", "--max-interval", "1", "-s", str(tmp_path / "beat-schedule")],
        cwd=ROOT, env=subprocess_env(), stdout=log_path.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        run: Any = None
        while time.monotonic() < deadline and run is None:
            run = Run.objects.filter(workflow_id=workflow_id, trigger="schedule", status__in=["completed", "failed"]).first()
            if beat.poll() is not None:
                break
            time.sleep(0.2)
        assert run is not None, f"no scheduled run: beat said {log_path.read_text(errors='replace')[-3000:]}\nworker: {flow_worker.log()}"
    finally:
        stop_process(beat)
    assert run.status == "completed" and run.input == {"report": "daily"} and run.user_id == caller.user.pk
    assert "workflow-schedule-" in log_path.read_text(errors="replace")
    # Beat recorded the firing, so the entry is not due again before its next minute.
    assert PeriodicTask.objects.get(pk=task.pk).last_run_at > timezone.now() - timedelta(minutes=1)
