"""Builds on a real Celery worker (queue `builds`) against the scripted fake: a whole build, cancel, a killed worker."""
from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from apps.billing.models import CreditReservation
from apps.core.streams import read_events
from apps.forge import services
from apps.forge.models import Build, BuildFile
from apps.forge.selectors import build_stream_key
from tests.conftest import WorkerStart, stop_process

from .conftest import client_for, script_app

pytestmark = [pytest.mark.worker]


def _wait(predicate: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _start(user: Any, prompt: str) -> str:
    answer = client_for(user).post("/api/v1/forge/builds", {"prompt": prompt}, format="json")
    assert answer.status_code == 202, answer.content
    return str(answer.json()["session_id"])


def _ended(build_id: str) -> Build | None:
    return Build.objects.filter(pk=build_id, status__in=["completed", "failed", "cancelled"]).first()


def test_a_whole_build_on_a_real_worker(forge_caller: Any, forge_model: Any, celery_worker: Any) -> None:
    script_app(forge_model)
    build_id = _start(forge_caller.user, "A to-do list #slow=0.005")
    build = _wait(lambda: _ended(build_id))
    assert build.status == "completed", (build.error, celery_worker.log())
    assert build.worker and build.attempts == 1 and build.progress == 100
    assert sorted(BuildFile.objects.filter(build=build).values_list("path", flat=True)) == ["app.js", "index.html", "style.css"]
    events = read_events(build_stream_key(build_id))
    assert events[-1].final and events[-1].data["type"] == "build_completed"
    assert all(h.status == "settled" for h in CreditReservation.objects.filter(reference__startswith=f"forge:{build_id}:"))


def test_cancel_stops_a_running_build_and_closes_the_provider_call(forge_caller: Any, forge_model: Any, celery_worker: Any) -> None:
    script_app(forge_model)
    client = client_for(forge_caller.user)
    build_id = _start(forge_caller.user, "A to-do list #hang")
    _wait(lambda: Build.objects.filter(pk=build_id, status="analyzing").exists() and forge_model.log)
    answer = client.delete(f"/api/v1/forge/builds/{build_id}")
    assert answer.status_code == 202 and answer.json() == {"session_id": build_id, "status": "cancelling"}
    build = _wait(lambda: _ended(build_id), timeout=20)
    assert build.status == "cancelled"
    assert build.error == {"phase": "analyzing", "error_code": "BUILD_CANCELLED", "message": "The build was cancelled.",
                           "retry_possible": True}
    assert forge_model.wait_for(lambda entry: entry.client_closed).client_closed  # the provider call was closed
    events = read_events(build_stream_key(build_id))
    assert events[-1].final and events[-1].data == {"type": "error", "data": build.error}
    assert not CreditReservation.objects.filter(reference__startswith=f"forge:{build_id}:", status="held").exists()
    # A cancelled build is ended: DELETE now deletes it.
    assert client.delete(f"/api/v1/forge/builds/{build_id}").status_code == 204


def test_cancel_before_a_worker_takes_it_ends_it_at_once(forge_caller: Any, forge_model: Any) -> None:
    build = Build.objects.create(owner=forge_caller.user, prompt="queued", model_name="forge-fake")
    answer = client_for(forge_caller.user).delete(f"/api/v1/forge/builds/{build.pk}")
    assert answer.status_code == 202 and answer.json()["status"] == "cancelled"
    assert Build.objects.get(pk=build.pk).status == "cancelled"
    assert read_events(build_stream_key(build.pk))[-1].data["data"]["error_code"] == "BUILD_CANCELLED"
    # A task delivered late finds nothing to claim.
    from apps.forge.runner import build_run

    assert build_run(build_id=build.pk) == "skipped"


def test_a_worker_killed_mid_build_ends_it_failed_and_retryable(forge_caller: Any, forge_model: Any, worker_start: WorkerStart,
                                                                 settings: Any) -> None:
    script_app(forge_model)
    worker = worker_start(FORGE_HEARTBEAT_SECONDS="0.3")
    build_id = _start(forge_caller.user, "A to-do list #hang")
    _wait(lambda: Build.objects.filter(pk=build_id, status="analyzing").exists() and forge_model.log)
    stop_process(worker.process, sig=signal.SIGKILL)
    assert Build.objects.get(pk=build_id).status == "analyzing"  # stuck, until the reaper sees it
    settings.FORGE_STALE_SECONDS = 1
    time.sleep(1.5)  # the dead worker's heartbeat goes stale
    assert services.build_reap_stale()["failed"] == 1
    build = Build.objects.get(pk=build_id)
    assert build.status == "failed" and build.finished_at is not None
    assert build.error["error_code"] == "WORKER_LOST" and build.error["retry_possible"] is True and build.error["phase"] == "analyzing"
    events = read_events(build_stream_key(build_id))
    assert events[-1].final and events[-1].data == {"type": "error", "data": build.error}
    assert not CreditReservation.objects.filter(reference__startswith=f"forge:{build_id}:", status="held").exists()
    assert services.build_reap_stale()["failed"] == 0  # once
