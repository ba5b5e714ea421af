"""Tasks through a real Celery worker (queue `agents`) and the fake A2A agent: lifecycle, cancel of a hanging
agent, and a worker killed mid-task (the reaper re-queues it; the money still moves exactly once)."""
from __future__ import annotations

import signal
import time
from decimal import Decimal
from typing import Any

import pytest

from apps.agents import services
from apps.agents.models import Task
from apps.billing.models import CreditReservation, CreditTransaction
from tests.conftest import WorkerProcess, WorkerStart, stop_process
from tests.factories import UserFactory
from tests.llm.conftest import committed_db  # noqa: F401  (fixture)

from .conftest import agent_body, client_for, read_sse

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

WORKER_ENV = {"ALLOWED_PRIVATE_NETWORKS": "127.0.0.0/8", "AGENTS_TASK_STALE_SECONDS": "2", "AGENTS_TASK_HEARTBEAT_SECONDS": "0.5"}


@pytest.fixture
def worker(worker_start: WorkerStart, settings: Any) -> WorkerProcess:
    """One worker consuming the agents queue."""
    settings.AGENTS_TASK_STALE_SECONDS = 2
    return worker_start(queues="agents", concurrency=1, **WORKER_ENV)


@pytest.fixture
def people(committed_db: None, fake_agent: Any) -> dict[str, Any]:  # noqa: F811
    owner, requester = UserFactory(), UserFactory()
    answer = client_for(owner).post("/api/v1/agents", agent_body(fake_agent.url), format="json")
    assert answer.status_code == 201, answer.content
    return {"owner": owner, "requester": requester, "agent": answer.json(), "fake": fake_agent}


def _submit(people: dict[str, Any], description: str, **extra: Any) -> str:
    body = {"assigned_agent_id": people["agent"]["id"], "description": description, **extra}
    answer = client_for(people["requester"]).post("/api/v1/tasks", body, format="json")
    assert answer.status_code == 202, answer.content
    assert answer.json()["status"] in ("submitted", "working")  # answered without waiting for the agent
    return str(answer.json()["id"])


def _wait(task_id: str, *statuses: str, worker: WorkerProcess | None = None, timeout: float = 60) -> Task:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = Task.objects.get(pk=task_id)
        if task.status in statuses:
            return task
        time.sleep(0.1)
    raise AssertionError(f"task stayed {Task.objects.get(pk=task_id).status}; worker log:\n{worker.log() if worker else ''}")


def _ledger(task_id: str) -> list[tuple[str, Decimal]]:
    return sorted((t.type, t.amount) for t in CreditTransaction.objects.filter(reference=f"agent-task:{task_id}"))


def test_lifecycle_through_a_real_worker(people: dict[str, Any], worker: WorkerProcess) -> None:
    task_id = _submit(people, "Through the worker #slow=0.5")
    task = _wait(task_id, "completed", "failed", worker=worker)
    assert task.status == "completed", (task.error, worker.log())
    events = read_sse(client_for(people["requester"]).get(f"/api/v1/tasks/{task_id}/stream"))
    assert [e["event"] for e in events] == ["status", "status", "message", "artifact", "status", "complete"]
    assert _ledger(task_id) == [("earned", Decimal("5")), ("spent", Decimal("-5"))]
    # input-required and a reply, through the worker too.
    asking = _submit(people, "Which? #input")
    _wait(asking, "input-required", worker=worker)
    answer = client_for(people["requester"]).post(f"/api/v1/tasks/{asking}/reply", {"message": "French"}, format="json")
    assert answer.status_code == 202
    assert _wait(asking, "completed", "failed", worker=worker).status == "completed"


def test_cancel_stops_a_hanging_agent_and_releases_the_hold(people: dict[str, Any], worker: WorkerProcess) -> None:
    task_id = _submit(people, "Forever #hang", timeout_seconds=120)
    _wait(task_id, "working", worker=worker)
    time.sleep(0.5)
    answer = client_for(people["requester"]).post(f"/api/v1/tasks/{task_id}/cancel")
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    assert _ledger(task_id) == []
    assert CreditReservation.objects.get(idempotency_key=f"agent-task-hold:{task_id}").status == "released"
    # The worker's run stopped within the poll interval and left the task as the cancel wrote it.
    deadline = time.monotonic() + 20
    while "succeeded" not in worker.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "succeeded" in worker.log() and "'cancelled'" in worker.log(), worker.log()
    assert Task.objects.get(pk=task_id).status == "cancelled"


def test_a_worker_killed_mid_task_is_reaped_and_the_money_moves_once(people: dict[str, Any], worker: WorkerProcess,
                                                                     worker_start: WorkerStart) -> None:
    task_id = _submit(people, "Long job #slow=3")
    _wait(task_id, "working", worker=worker)
    stop_process(worker.process, sig=signal.SIGKILL)
    time.sleep(2.5)  # past AGENTS_TASK_STALE_SECONDS: its lease is stale
    assert Task.objects.get(pk=task_id).status == "working"
    second = worker_start(queues="agents", concurrency=1, **WORKER_ENV)
    counts = services.task_reap_stale()
    assert counts["requeued"] == 1, counts
    task = _wait(task_id, "completed", "failed", worker=second)
    assert task.status == "completed", (task.error, second.log())
    assert task.attempts == 2
    # Reaping again, finishing again: nothing moves twice.
    assert services.task_reap_stale() == {"requeued": 0, "failed": 0, "timed_out": 0}
    assert services.task_finish(task_id=task_id, status="failed") is False
    assert _ledger(task_id) == [("earned", Decimal("5")), ("spent", Decimal("-5"))]
    assert CreditReservation.objects.filter(idempotency_key=f"agent-task-hold:{task_id}").count() == 1
    assert "'completed'" in second.log()  # the second worker forwarded it again and finished it
