"""Executions through a real daphne server, a real Celery worker on the real broker, and the fake provider."""
from __future__ import annotations

import signal
import time
from typing import Any

import httpx
import pytest
from django.apps import apps as django_apps

from apps.architect import services
from apps.architect.models import Execution, PromptResult, Tool
from apps.llm.models import UsageRecord
from tests.conftest import WorkerStart, stop_process

from .conftest import Caller, SseReader, chain_body, make_caller

pytestmark = [pytest.mark.live, pytest.mark.worker]


def _wait(predicate: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _tool(client: httpx.Client, server: Any, caller: Caller, **kwargs: Any) -> dict[str, Any]:
    answer = client.post(f"{server.url}/api/v1/architect/tools", json=chain_body(**kwargs), headers=caller.headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _execute(client: httpx.Client, server: Any, caller: Caller, tool: dict[str, Any], topic: str = "cats") -> Any:
    return client.stream("POST", f"{server.url}/api/v1/architect/execute", json={"tool_id": tool["id"], "inputs": {"topic": topic}},
                         headers=caller.headers)


@pytest.fixture
def caller(fake_models: Any) -> Caller:
    """A committed user and their API key."""
    return make_caller()


def test_two_position_chain_streams_the_exact_event_order_and_replays(caller: Caller, daphne_server: Any, celery_worker: Any,
                                                                      fake_llm: Any) -> None:
    with httpx.Client(timeout=60) as client:
        tool = _tool(client, daphne_server, caller, first="Hi {{topic}} #words=6 #slow=0.01", second="Bye {{topic}} #words=4 #slow=0.01")
        with _execute(client, daphne_server, caller, tool) as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            execution_id = response.headers["x-execution-id"]
            events = SseReader(response).rest()
        ids = {p["name"]: p["id"] for p in tool["prompts"]}
        types = [e.data["type"] for e in events]
        assert [t for t in types if t != "prompt_chunk"] == [
            "execution_started", "prompt_started", "prompt_started", "prompt_complete", "prompt_complete",
            "prompt_started", "prompt_complete", "execution_complete"]
        assert all(e.event == e.data["type"] for e in events)
        assert [int(e.id) for e in events] == list(range(1, len(events) + 1))
        # The two prompts of position 1 both start before either completes (they run in parallel), and the
        # position-2 prompt starts only after both completed.
        started = {e.data["prompt_id"]: i for i, e in enumerate(events) if e.data["type"] == "prompt_started"}
        completed = {e.data["prompt_id"]: i for i, e in enumerate(events) if e.data["type"] == "prompt_complete"}
        assert max(started[ids["greet"]], started[ids["farewell"]]) < min(completed[ids["greet"]], completed[ids["farewell"]])
        assert started[ids["joined"]] > max(completed[ids["greet"]], completed[ids["farewell"]])
        for prompt_id in ids.values():
            chunk_positions = [i for i, e in enumerate(events) if e.data["type"] == "prompt_chunk" and e.data["prompt_id"] == prompt_id]
            assert chunk_positions and started[prompt_id] < min(chunk_positions) and max(chunk_positions) < completed[prompt_id]
        assert events[0].data == {"type": "execution_started", "execution_id": execution_id, "total_prompts": 3}
        assert events[started[ids["joined"]]].data == {"type": "prompt_started", "prompt_id": ids["joined"], "position": 2, "name": "joined"}
        final = events[-1].data
        assert final["execution_id"] == execution_id and [r["status"] for r in final["results"]] == ["completed"] * 3

        # Replay: a client that saw up to event 3 gets exactly the rest, then the stream ends.
        url = f"{daphne_server.url}/api/v1/architect/executions/{execution_id}/events"
        with client.stream("GET", url, headers={**caller.headers, "Last-Event-ID": "3"}) as response:
            assert response.status_code == 200
            replay = SseReader(response).rest()
        assert [(e.id, e.data) for e in replay] == [(e.id, e.data) for e in events[3:]]
        shown = client.get(f"{daphne_server.url}/api/v1/architect/executions/{execution_id}", headers=caller.headers).json()
        assert shown["status"] == "completed" and [r["name"] for r in shown["results"]] == ["greet", "farewell", "joined"]
        assert shown["results"][2]["output"] == final["results"][2]["output"]


def test_a_client_can_leave_and_follow_the_rest_live(caller: Caller, daphne_server: Any, celery_worker: Any) -> None:
    with httpx.Client(timeout=60) as client:
        tool = _tool(client, daphne_server, caller, third="{{greet}} #words=30 #slow=0.05")
        with _execute(client, daphne_server, caller, tool) as response:
            execution_id = response.headers["x-execution-id"]
            first = SseReader(response).until(lambda e: e.data["type"] == "prompt_complete")
        url = f"{daphne_server.url}/api/v1/architect/executions/{execution_id}/events"
        with client.stream("GET", url, headers={**caller.headers, "Last-Event-ID": first[-1].id}) as response:
            rest = SseReader(response).rest()
    assert int(rest[0].id) == int(first[-1].id) + 1
    assert rest[-1].data["type"] == "execution_complete"
    assert len([e for e in first + rest if e.data["type"] == "prompt_complete"]) == 3


def test_cancel_stops_the_chain_within_seconds_and_closes_provider_streams(caller: Caller, daphne_server: Any, celery_worker: Any,
                                                                            fake_llm: Any) -> None:
    with httpx.Client(timeout=60) as client:
        tool = _tool(client, daphne_server, caller, first="{{topic}} #words=400 #slow=0.05", second="{{topic}} #words=400 #slow=0.05")
        with _execute(client, daphne_server, caller, tool) as response:
            execution_id = response.headers["x-execution-id"]
            reader = SseReader(response)
            reader.until(lambda e: e.data["type"] == "prompt_chunk")
            answer = client.post(f"{daphne_server.url}/api/v1/architect/executions/{execution_id}/cancel", headers=caller.headers)
            assert answer.status_code == 202 and answer.json()["status"] == "cancelling"
            rest = reader.rest()
    assert rest[-1].data == {"type": "execution_cancelled", "execution_id": execution_id}
    assert "execution_complete" not in [e.data["type"] for e in rest]
    closed = _wait(lambda: [entry for entry in fake_llm.log if entry.client_closed] if
                   len([entry for entry in fake_llm.log if entry.client_closed]) == 2 else None)
    assert all(not entry.completed for entry in closed)
    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "cancelled"
    results = list(PromptResult.objects.filter(execution=execution))
    assert sorted(r.name for r in results) == ["farewell", "greet"]
    for result in results:
        assert result.status == "cancelled" and 0 < len(result.output.split()) < 400
        assert UsageRecord.objects.get(pk=result.usage_record_id).status == "stopped"
    again = httpx.post(f"{daphne_server.url}/api/v1/architect/executions/{execution_id}/cancel", headers=caller.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "CONFLICT"


def test_worker_killed_mid_chain_is_requeued_and_finishes_without_double_charge(fake_models: Any, fake_llm: Any,
                                                                                worker_start: WorkerStart, settings: Any) -> None:
    """SIGKILL the worker while position 2 streams; the reaper re-queues; a new worker skips what completed."""
    env = {"ARCHITECT_HEARTBEAT_SECONDS": "0.3", "ARCHITECT_STALE_SECONDS": "2"}
    settings.ARCHITECT_STALE_SECONDS = 2
    caller = make_caller()
    tool_body = chain_body(third="{{greet}} {{farewell}} #words=60 #slow=0.05")
    first = worker_start(**env)
    tool = services.tool_create(user=caller.user, **{k: tool_body[k] for k in ("name", "status", "input_fields", "prompts")})
    execution = services.execution_start(user=caller.user, tool=Tool.objects.get(pk=tool.pk), inputs={"topic": "dogs"})
    _wait(lambda: PromptResult.objects.filter(execution=execution, name="joined", status="running").exists()
          and len([e for e in fake_llm.log if "#words=60" in str(e.body)]) == 1)
    time.sleep(0.5)  # some chunks of the last prompt are out
    stop_process(first.process, sig=signal.SIGKILL)
    assert Execution.objects.get(pk=execution.pk).status == "running"  # stuck, until the reaper sees it
    worker_start(**env)
    time.sleep(2.5)  # the dead worker's heartbeat goes stale
    assert services.execution_reap_stale()["requeued"] == 1
    final = _wait(lambda: Execution.objects.filter(pk=execution.pk, status__in=["completed", "failed"]).first(), timeout=60)
    assert final.status == "completed", final.error
    assert final.attempts == 2
    results = {r.name: r for r in PromptResult.objects.filter(execution=final)}
    assert all(r.status == "completed" for r in results.values()) and len(results) == 3
    # Position 1 ran once (one provider call and one usage record each); only the interrupted prompt ran again.
    for name in ("greet", "farewell"):
        prompt_id = results[name].prompt_id
        assert UsageRecord.objects.filter(request_id__startswith=f"architect.{final.pk}.{prompt_id}.").count() == 1
    assert len([e for e in fake_llm.log if "#words=60" in str(e.body)]) == 2
    if django_apps.is_installed("apps.billing"):
        from apps.billing.models import CreditReservation

        reservations = CreditReservation.objects.filter(reference__startswith=f"architect:{final.pk}:")
        assert reservations.count() == 3 and all(r.status == "settled" for r in reservations)
        assert sum(r.charged for r in reservations) == final.cost
