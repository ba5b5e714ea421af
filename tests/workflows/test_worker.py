"""Runs on a real Celery worker (queues default + workflows) against the fake provider: the scheduler end to end."""
from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pytest

from apps.billing.models import CreditReservation
from apps.core.streams import read_events
from apps.llm import services as llm_services
from apps.llm.selectors import registry
from apps.workflows import runner
from apps.workflows.models import Run, StepRun
from apps.workflows.selectors import run_stream_key
from tests.chat.conftest import make_caller
from tests.conftest import WorkerProcess, WorkerStart

from .conftest import client_for, condition, create, llm

pytestmark = [pytest.mark.worker]
MODEL = "fake-openai"


def _wait(predicate: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _ended(run_id: str, worker: WorkerProcess) -> Run:
    try:
        return _wait(lambda: Run.objects.filter(pk=run_id, status__in=["completed", "failed", "cancelled"]).first())
    except AssertionError:
        raise AssertionError(f"run {run_id} did not end: {worker.log()}") from None


def _execute(client: Any, workflow_id: str, run_input: dict[str, Any] | None = None) -> str:
    answer = client.post(f"/api/v1/workflows/{workflow_id}/execute", {"input": run_input or {}}, format="json")
    assert answer.status_code == 202, answer.content
    return str(answer.json()["id"])


def _steps(run_id: str) -> dict[str, list[StepRun]]:
    found: dict[str, list[StepRun]] = {}
    for step in StepRun.objects.filter(run_id=run_id).order_by("index", "attempt"):
        found.setdefault(step.name, []).append(step)
    return found


def test_a_diamond_dag_runs_in_parallel_and_joins(fake_llm: Any, flow_worker: WorkerProcess) -> None:
    fake_llm.script("[wf:top]", "alpha")
    fake_llm.script("[wf:left]", "beta")
    fake_llm.script("[wf:right]", "gamma")
    fake_llm.script("[wf:join]", "delta")
    caller = make_caller()
    client = client_for(caller.user)
    workflow = create(client, [
        llm("top", "[wf:top] about {{input.topic}}", MODEL),
        llm("left", "[wf:left] {{steps.top.output}}", MODEL, [0]),
        llm("right", "[wf:right] {{steps.top.output}}", MODEL, [0]),
        llm("join", "[wf:join] {{steps.left.output}}+{{steps.right.output}}", MODEL, [1, 2]),
    ]).json()
    run_id = _execute(client, workflow["id"], {"topic": "owls"})
    run = _ended(run_id, flow_worker)
    assert run.status == "completed", (run.error, flow_worker.log())
    steps = _steps(run_id)
    assert {name: [a.status for a in attempts] for name, attempts in steps.items()} == {
        "top": ["completed"], "left": ["completed"], "right": ["completed"], "join": ["completed"]}
    assert steps["top"][0].input["prompt"] == "[wf:top] about owls"
    assert steps["join"][0].input["prompt"] == "[wf:join] beta+gamma"
    assert steps["join"][0].output == "delta"
    # the join started only after both branches ended
    assert steps["join"][0].started_at >= max(steps["left"][0].finished_at, steps["right"][0].finished_at)
    assert run.cost > 0 and run.cost == sum(attempts[0].cost for attempts in steps.values())
    holds = CreditReservation.objects.filter(reference__startswith=f"workflows:{run_id}:")
    assert holds.count() == 4 and all(hold.status == "settled" for hold in holds)
    events = read_events(run_stream_key(run_id))
    types = [event.data["type"] for event in events]
    assert types[0] == "run:started" and events[-1].final and types[-1] == "run:completed"
    assert types.count("step:completed") == 4
    shown = client.get(f"/api/v1/runs/{run_id}").json()
    assert [step["status"] for step in shown["steps"]] == ["completed"] * 4 and shown["steps"][3]["output"] == "delta"
    assert shown["version"] == 1


def test_a_failing_step_is_retried_then_its_downstream_skipped(flow_worker: WorkerProcess) -> None:
    caller = make_caller()
    client = client_for(caller.user)
    workflow = create(client, [
        condition("check", "input.missing > 1", retry_policy={"max_retries": 2, "backoff_ms": 50}),
        condition("after", "true", [0]),
        condition("later", "true", [1]),
        condition("apart", "true"),
    ]).json()
    run_id = _execute(client, workflow["id"])
    run = _ended(run_id, flow_worker)
    assert run.status == "failed", flow_worker.log()
    assert run.error["step"] == "check" and run.error["code"] == "CONDITION_ERROR"
    steps = _steps(run_id)
    assert [a.status for a in steps["check"]] == ["failed", "failed", "failed"]
    assert [a.attempt for a in steps["check"]] == [1, 2, 3]
    # the backoff doubles: 50 ms, then 100 ms
    assert (steps["check"][1].started_at - steps["check"][0].finished_at).total_seconds() >= 0.05
    assert (steps["check"][2].started_at - steps["check"][1].finished_at).total_seconds() >= 0.1
    assert [a.status for a in steps["after"]] == ["skipped"] and [a.status for a in steps["later"]] == ["skipped"]
    assert [a.status for a in steps["apart"]] == ["completed"]
    # Each attempt's log says what happened to it, and its input is kept.
    assert [len(a.logs) for a in steps["check"]] == [1, 1, 1]
    assert steps["check"][2].logs[0]["message"].startswith("Attempt 3 failed: CONDITION_ERROR")
    assert steps["apart"][0].logs[0]["message"] == "Completed attempt 1." and steps["apart"][0].input == {"expression": "true"}
    assert steps["after"][0].error["message"] == "Step 'check' failed."
    types = [event.data["type"] for event in read_events(run_stream_key(run_id))]
    assert types.count("step:retrying") == 2 and types[-1] == "run:failed"
    # Every event in order, numbered from 1 without gaps, although one transaction publishes several at once.
    assert [event.id for event in read_events(run_stream_key(run_id))] == list(range(1, len(types) + 1))


def test_resume_reruns_only_failed_and_skipped_steps(fake_llm: Any, fake_models: Any, flow_worker: WorkerProcess) -> None:
    fake_llm.script("[wf:first]", "one")
    fake_llm.script("[wf:second]", "two")
    fake_llm.script("[wf:third]", "three")
    caller = make_caller()
    client = client_for(caller.user)
    workflow = create(client, [
        llm("first", "[wf:first]", MODEL),
        llm("second", "[wf:second] {{steps.first.output}}", "late-model", [0]),
        llm("third", "[wf:third] {{steps.second.output}}", MODEL, [1]),
    ]).json()
    run_id = _execute(client, workflow["id"])
    run = _ended(run_id, flow_worker)
    assert run.status == "failed" and run.error["step"] == "second", (run.error, flow_worker.log())
    # the missing model appears; resume re-runs "second" and "third" only
    llm_services.model_create(name="late-model", provider=fake_models.providers["openai"], provider_model="fake-model",
                              capabilities=["chat"], input_cost=1, output_cost=1, context_window=2000, max_output_tokens=500)
    registry.forget()
    time.sleep(1.2)  # the worker reads the registry's version at most once a second
    first_calls = len([entry for entry in fake_llm.log if "[wf:first]" in str(entry.body)])
    answer = client.post(f"/api/v1/runs/{run_id}/resume")
    assert answer.status_code == 202, answer.content
    run = _ended(run_id, flow_worker)
    assert run.status == "completed", (run.error, flow_worker.log())
    steps = _steps(run_id)
    assert [a.status for a in steps["first"]] == ["completed"]
    assert [a.status for a in steps["second"]] == ["failed", "completed"]
    assert [a.status for a in steps["third"]] == ["skipped", "completed"]
    assert steps["third"][1].output == "three" and steps["second"][1].input["prompt"] == "[wf:second] one"
    assert len([entry for entry in fake_llm.log if "[wf:first]" in str(entry.body)]) == first_calls == 1
    again = client.post(f"/api/v1/runs/{run_id}/resume")
    assert again.status_code == 409


def test_a_false_condition_skips_its_branch_and_the_run_succeeds(flow_worker: WorkerProcess) -> None:
    caller = make_caller()
    client = client_for(caller.user)
    workflow = create(client, [
        condition("big", "input.n > 5"),
        condition("when_big", "true", [0]),
        condition("small", "input.n <= 5 and contains(input.tags, 'x')"),
        condition("when_small", "steps.small == True", [2]),
    ]).json()
    run_id = _execute(client, workflow["id"], {"n": 1, "tags": ["x", "y"]})
    run = _ended(run_id, flow_worker)
    assert run.status == "completed", (run.error, flow_worker.log())
    steps = _steps(run_id)
    assert steps["big"][0].output is False and steps["when_big"][0].status == "skipped"
    assert steps["small"][0].output is True and steps["when_small"][0].status == "completed"


def _blocking_reply(gate: threading.Event, text: str) -> Any:
    def reply(_joined: str) -> str:
        gate.wait(30)  # holds the fake's answer until the test has done its part
        return text

    return reply


def test_a_worker_killed_mid_step_loses_nothing_and_charges_once(fake_llm: Any, fake_models: Any, worker_start: WorkerStart,
                                                                 settings: Any) -> None:
    settings.WORKFLOWS_STALE_SECONDS = 1.0
    gate = threading.Event()
    fake_llm.script("[wf:slow]", _blocking_reply(gate, "slow done"))
    fake_llm.script("[wf:next]", "next done")
    caller = make_caller()
    client = client_for(caller.user)
    workflow = create(client, [llm("slow", "[wf:slow]", MODEL), llm("next", "[wf:next] {{steps.slow.output}}", MODEL, [0])]).json()
    first = worker_start(queues="default,workflows", WORKFLOWS_STALE_SECONDS="1", WORKFLOWS_HEARTBEAT_SECONDS="0.2")
    run_id = _execute(client, workflow["id"])
    _wait(lambda: any("[wf:slow]" in str(entry.body) for entry in fake_llm.log))
    _wait(lambda: StepRun.objects.filter(run_id=run_id, index=0, worker__gt="").exists())
    os.killpg(first.process.pid, signal.SIGKILL)  # the worker and its pool children, mid-call
    first.process.wait(10)
    gate.set()
    second = worker_start(queues="default,workflows", WORKFLOWS_STALE_SECONDS="1", WORKFLOWS_HEARTBEAT_SECONDS="0.2")
    # the beat's reaper, run here: the step's heartbeat stopped, so the same attempt is queued again
    _wait(lambda: runner.stale_reap()["requeued"] >= 1, timeout=30)
    run = _ended(run_id, second)
    assert run.status == "completed", run.error
    steps = _steps(run_id)
    assert [a.status for a in steps["slow"]] == ["completed"] and steps["slow"][0].attempt == 1
    assert steps["slow"][0].output == "slow done" and steps["next"][0].output == "next done"
    holds = CreditReservation.objects.filter(reference__startswith=f"workflows:{run_id}:")
    assert holds.count() == 2 and all(hold.status == "settled" for hold in holds)
    assert sum(hold.charged for hold in holds) == run.cost > 0


def test_cancel_stops_a_running_step_and_the_run(fake_llm: Any, flow_worker: WorkerProcess) -> None:
    gate = threading.Event()
    fake_llm.script("[wf:long]", _blocking_reply(gate, "too late"))
    caller = make_caller()
    client = client_for(caller.user)
    workflow = create(client, [llm("long", "[wf:long]", MODEL), condition("after", "true", [0])]).json()
    run_id = _execute(client, workflow["id"])
    try:
        _wait(lambda: StepRun.objects.filter(run_id=run_id, index=0, worker__gt="").exists())
        answer = client.post(f"/api/v1/runs/{run_id}/cancel")
        assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
        _wait(lambda: StepRun.objects.filter(run_id=run_id, index=0, status="cancelled").exists(), timeout=30)
    finally:
        gate.set()
    assert Run.objects.get(pk=run_id).status == "cancelled"
    assert client.post(f"/api/v1/runs/{run_id}/cancel").status_code == 409
    _wait(lambda: not CreditReservation.objects.filter(reference__startswith=f"workflows:{run_id}:", status="held").exists())
    assert StepRun.objects.get(run_id=run_id, index=1).status in ("pending", "cancelled")
    events = [event.data["type"] for event in read_events(run_stream_key(run_id))]
    assert "run:cancelled" in events and "step:cancelled" in events


def test_max_cost_stops_the_run_before_a_step_would_pass_it(fake_llm: Any, flow_worker: WorkerProcess) -> None:
    fake_llm.script("[wf:cheap]", "ok")
    caller = make_caller()
    client = client_for(caller.user)
    # a call can cost up to (prompt + 500 output tokens) x 400 credits per 1M: about 0.2 credits; the first
    # spends about 0.12 (300 words), so the second (up to 0.2 more) would pass 0.25
    workflow = create(client, [llm("first", "[wf:big] #words=300", MODEL), llm("second", "[wf:cheap] two", MODEL, [0]),
                               condition("third", "true", [1])], max_cost="0.25").json()
    run_id = _execute(client, workflow["id"])
    run = _ended(run_id, flow_worker)
    assert run.status == "failed" and run.error["code"] == "BUDGET_EXCEEDED", (run.error, flow_worker.log())
    steps = _steps(run_id)
    assert steps["first"][0].status == "completed" and steps["second"][0].status == "failed"
    assert steps["second"][0].error["code"] == "BUDGET_EXCEEDED" and len(steps["second"]) == 1
    assert steps["third"][0].status == "skipped"
    assert len([entry for entry in fake_llm.log if "[wf:cheap] two" in str(entry.body)]) == 0
    assert not CreditReservation.objects.filter(reference=f"workflows:{run_id}:1:1").exists()
    assert run.cost <= run.max_cost


def test_a_knowledge_search_step_reads_only_the_run_owners_repositories(flow_worker: WorkerProcess) -> None:
    from apps.knowledge import services as knowledge
    from apps.knowledge.models import Chunk, Document

    caller, stranger = make_caller(), make_caller()
    mine = knowledge.repository_create(user=caller.user, name="notes")
    theirs = knowledge.repository_create(user=stranger.user, name="secret")
    for repository, text in [(mine, "barn owls hunt voles at night"), (theirs, "owls are the stranger's secret")]:
        document = Document.objects.create(repository=repository, filename="owls.txt", content_type="text/plain", size=1,
                                           file_key=f"test/{repository.pk}", status="ready", chunk_count=1)
        Chunk.objects.create(document=document, repository=repository, position=0, content=text, embedding=[0.0] * 383 + [1.0],
                             embedding_model="test", metadata={})
    client = client_for(caller.user)
    workflow = create(client, [
        {"name": "find", "kind": "knowledge_search", "config": {"query": "{{input.q}}", "mode": "keyword", "limit": 5}},
        condition("found", "len(steps.find) == 1", [0]),
        {"name": "peek", "kind": "knowledge_search",
         "config": {"query": "owls", "mode": "keyword", "repository_ids": [str(theirs.pk)]}},
    ]).json()
    run_id = _execute(client, workflow["id"], {"q": "owls"})
    run = _ended(run_id, flow_worker)
    steps = _steps(run_id)
    assert steps["find"][0].status == "completed", (steps["find"][0].error, flow_worker.log())
    assert [hit["content"] for hit in steps["find"][0].output] == ["barn owls hunt voles at night"]
    assert steps["found"][0].output is True
    assert steps["peek"][-1].status == "failed" and steps["peek"][-1].error["code"] == "NOT_FOUND"
    assert run.status == "failed"


def test_run_events_replay_over_sse_after_last_event_id(flow_worker: WorkerProcess) -> None:
    from tests.architect.conftest import read_sse

    caller = make_caller()
    client = client_for(caller.user)
    workflow = create(client, [condition("a", "true"), condition("b", "true", [0])]).json()
    run_id = _execute(client, workflow["id"])
    _ended(run_id, flow_worker)
    stored = read_events(run_stream_key(run_id))
    everything = read_sse(client.get(f"/api/v1/runs/{run_id}/events", HTTP_ACCEPT="text/event-stream"))
    assert [int(e["id"]) for e in everything] == [e.id for e in stored]
    assert [e["data"] for e in everything] == [e.data for e in stored]
    assert all(e["event"] == e["data"]["type"] for e in everything) and everything[-1]["event"] == "run:completed"
    later = read_sse(client.get(f"/api/v1/runs/{run_id}/events", HTTP_LAST_EVENT_ID="3"))
    assert [int(e["id"]) for e in later] == [e.id for e in stored if e.id > 3]
