"""Executions run in-process (eager Celery) against the loopback fake provider and the real Redis/PostgreSQL."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.utils import timezone

from apps.architect import services
from apps.architect.models import Execution, PromptResult
from apps.architect.runner import execution_run
from apps.core.streams import read_events
from apps.llm.models import UsageRecord

from .conftest import chain_body, client_for, read_sse

pytestmark = pytest.mark.django_db(transaction=True)
BILLING = django_apps.is_installed("apps.billing")


def _tool(client: Any, **kwargs: Any) -> dict[str, Any]:
    answer = client.post("/api/v1/architect/tools", chain_body(**kwargs), format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()


def _execute(client: Any, tool: dict[str, Any], topic: str = "cats") -> tuple[str, list[dict[str, Any]]]:
    answer = client.post("/api/v1/architect/execute", {"tool_id": tool["id"], "inputs": {"topic": topic}}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"].startswith("text/event-stream")
    return answer["X-Execution-Id"], read_sse(answer)


def test_chain_runs_positions_in_order_and_passes_outputs_on(architect_user: Any, fake_llm: Any) -> None:
    client = client_for(architect_user)
    tool = _tool(client)
    execution_id, events = _execute(client, tool)
    kinds = [e["data"]["type"] for e in events if e["data"]["type"] != "prompt_chunk"]
    assert kinds == ["execution_started", "prompt_started", "prompt_started", "prompt_complete", "prompt_complete",
                     "prompt_started", "prompt_complete", "execution_complete"]
    assert all(e["event"] == e["data"]["type"] for e in events)
    assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))
    assert events[0]["data"] == {"type": "execution_started", "execution_id": execution_id, "total_prompts": 3}
    outputs = {e["data"]["prompt_id"]: e["data"]["output"] for e in events if e["data"]["type"] == "prompt_complete"}
    by_name = {p["name"]: p["id"] for p in tool["prompts"]}
    assert outputs[by_name["greet"]].split() == ["w0", "w1", "w2"]
    assert outputs[by_name["farewell"]].split() == ["w0", "w1"]
    # Chunks of a prompt add up to its output.
    chunks = "".join(e["data"]["content"] for e in events if e["data"]["type"] == "prompt_chunk" and e["data"]["prompt_id"] == by_name["greet"])
    assert chunks == outputs[by_name["greet"]]
    # The last prompt saw both earlier outputs, inserted as text, and its system prompt.
    last = [entry for entry in fake_llm.log if "Join:" in str(entry.body)][0]
    assert f"Join: {outputs[by_name['greet']]} / {outputs[by_name['farewell']]}" in str(last.body)
    assert "Be brief." in str(last.body)
    complete = events[-1]["data"]
    assert [r["name"] for r in complete["results"]] == ["greet", "farewell", "joined"]
    assert all(r["status"] == "completed" and r["metadata"]["cost"] > 0 for r in complete["results"])

    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "completed" and execution.attempts == 1 and execution.finished_at is not None
    results = list(PromptResult.objects.filter(execution=execution))
    assert len(results) == 3 and execution.cost == sum(r.cost for r in results) > 0
    for result in results:
        record = UsageRecord.objects.get(pk=result.usage_record_id)
        assert record.origin == "architect" and record.status == "completed" and record.cost == result.cost
    shown = client.get(f"/api/v1/architect/executions/{execution_id}").json()
    assert shown["status"] == "completed" and shown["duration_ms"] >= 0 and len(shown["results"]) == 3
    assert shown["results"][0]["metadata"]["tokens"]["total"] > 0
    if BILLING:
        from apps.billing.models import CreditReservation

        reservations = CreditReservation.objects.filter(reference__startswith=f"architect:{execution_id}:")
        assert reservations.count() == 3 and all(r.status == "settled" for r in reservations)
        assert sum(r.charged for r in reservations) == execution.cost


def test_provider_failure_fails_the_prompt_and_the_execution_and_keeps_outputs(architect_user: Any) -> None:
    client = client_for(architect_user)
    tool = _tool(client, third="{{greet}} #fail=500")
    execution_id, events = _execute(client, tool)
    assert events[-1]["data"]["type"] == "execution_failed"
    error = events[-1]["data"]["error"]
    assert error["code"] == "MODEL_UNAVAILABLE" and error["prompt_name"] == "joined" and "joined" in error["message"]
    results = {r.name: r for r in PromptResult.objects.filter(execution_id=execution_id)}
    assert results["greet"].status == "completed" and results["greet"].output
    assert results["joined"].status == "failed" and results["joined"].error["code"] == "MODEL_UNAVAILABLE"
    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "failed" and execution.error["code"] == "MODEL_UNAVAILABLE"


def test_timeout_stops_the_chain_and_closes_the_provider_stream(architect_user: Any, fake_llm: Any, settings: Any) -> None:
    settings.ARCHITECT_EXECUTION_TIMEOUT_SECONDS = 1
    client = client_for(architect_user)
    tool = _tool(client, first="{{topic}} #words=400 #slow=0.05")
    execution_id, events = _execute(client, tool)
    assert events[-1]["data"]["type"] == "execution_failed"
    assert events[-1]["data"]["error"]["code"] == "EXECUTION_TIMEOUT"
    assert "prompt_started" in [e["data"]["type"] for e in events]
    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "failed" and execution.error["code"] == "EXECUTION_TIMEOUT"
    slow = PromptResult.objects.get(execution=execution, name="greet")
    assert slow.status == "cancelled" and 0 < len(slow.output.split()) < 400
    assert UsageRecord.objects.get(pk=slow.usage_record_id).status == "stopped"
    assert any(entry.client_closed for entry in fake_llm.log)


def test_a_rerun_skips_completed_prompts_and_never_charges_twice(architect_user: Any, fake_llm: Any) -> None:
    client = client_for(architect_user)
    tool = _tool(client)
    execution_id, _events = _execute(client, tool)
    calls = len(fake_llm.log)
    # As if the worker died while the last prompt ran: the execution is re-queued and runs again.
    PromptResult.objects.filter(execution_id=execution_id, name="joined").update(status="running")
    Execution.objects.filter(pk=execution_id).update(status="pending")
    assert execution_run(execution_id=execution_id) == "completed"
    assert len(fake_llm.log) == calls + 1  # only the unfinished prompt was called again
    assert PromptResult.objects.filter(execution_id=execution_id).count() == 3
    # Completed executions are not run again by a late redelivery.
    assert execution_run(execution_id=execution_id) == "skipped"
    if BILLING:
        from apps.billing.models import CreditReservation

        assert CreditReservation.objects.filter(reference__startswith=f"architect:{execution_id}:").count() == 3


def test_reaper_requeues_then_fails_executions_whose_worker_vanished(architect_user: Any, settings: Any) -> None:
    settings.ARCHITECT_STALE_SECONDS = 5
    settings.ARCHITECT_MAX_ATTEMPTS = 2
    client = client_for(architect_user)
    tool = _tool(client)
    execution_id, _events = _execute(client, tool)
    stale = timezone.now() - timedelta(seconds=60)
    # One attempt so far: re-queued (and, eagerly, run to the end).
    Execution.objects.filter(pk=execution_id).update(status="running", heartbeat_at=stale, attempts=1)
    PromptResult.objects.filter(execution_id=execution_id, name="joined").update(status="running")
    assert services.execution_reap_stale()["requeued"] == 1
    assert Execution.objects.get(pk=execution_id).status == "completed"
    # Out of attempts: failed, and the stream ends with execution_failed.
    Execution.objects.filter(pk=execution_id).update(status="running", heartbeat_at=stale, attempts=2)
    assert services.execution_reap_stale()["failed"] == 1
    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "failed" and execution.error["code"] == "WORKER_LOST"
    last = read_events(services.execution_stream_key(execution_id))[-1]
    assert last.final and last.data["type"] == "execution_failed"
    # Overdue (deadline passed long ago) and not running: failed with the timeout code.
    Execution.objects.filter(pk=execution_id).update(status="pending", deadline_at=stale)
    assert services.execution_reap_stale()["timed_out"] == 1
    assert Execution.objects.get(pk=execution_id).error["code"] == "EXECUTION_TIMEOUT"


def test_cancel_of_a_queued_execution_ends_it_at_once(architect_user: Any, settings: Any) -> None:
    client = client_for(architect_user)
    tool = _tool(client)
    execution = services.execution_start(user=architect_user, tool=services.Tool.objects.get(pk=tool["id"]), inputs={"topic": "x"})
    # Eager mode ran it already; make a fresh queued one by hand.
    Execution.objects.filter(pk=execution.pk).update(status="pending")
    answer = client.post(f"/api/v1/architect/executions/{execution.pk}/cancel")
    assert answer.status_code == 202 and answer.json()["status"] == "cancelled"
    assert Execution.objects.get(pk=execution.pk).status == "cancelled"
    assert read_events(services.execution_stream_key(execution.pk))[-1].data["type"] == "execution_cancelled"
    assert execution_run(execution_id=execution.pk) == "skipped"
    again = client.post(f"/api/v1/architect/executions/{execution.pk}/cancel")
    assert again.status_code == 409


@pytest.mark.skipif(not BILLING, reason="credits are held through the billing app")
def test_402_before_any_provider_call_when_credits_cannot_cover_the_chain(architect_user: Any, fake_llm: Any) -> None:
    from apps.billing.models import CreditAccount
    from apps.billing.services import credit_account_for

    credit_account_for(user=architect_user)
    CreditAccount.objects.filter(user=architect_user).update(allowance=Decimal("0"), purchased=Decimal("0"))
    client = client_for(architect_user)
    tool = _tool(client)
    answer = client.post("/api/v1/architect/execute", {"tool_id": tool["id"], "inputs": {"topic": "x"}}, format="json")
    assert answer.status_code == 402 and answer.json()["error"]["code"] == "INSUFFICIENT_CREDITS"
    assert Execution.objects.count() == 0 and fake_llm.log == []


def test_a_run_failed_by_the_reaper_leaves_no_credit_hold_open(architect_user: Any, settings: Any) -> None:
    """A worker that died mid-prompt held credits; failing its execution settles them from what was metered."""
    from apps.billing.metering import call_hold, hold_find
    from apps.llm.client import chat_prepare

    settings.ARCHITECT_STALE_SECONDS = 5
    settings.ARCHITECT_MAX_ATTEMPTS = 1
    client = client_for(architect_user)
    tool = _tool(client)
    execution_id, _events = _execute(client, tool)
    execution = Execution.objects.get(pk=execution_id)
    prompt = execution.snapshot["prompts"][0]
    # What the dead worker had done: a new attempt's hold for the first prompt, never settled.
    ref = f"{execution_id}:{prompt['id']}-retry"
    prepared = chat_prepare(user=architect_user, model=prompt["model_name"], messages=[{"role": "user", "content": "x"}],
                            request_id=f"architect.{execution_id}.{prompt['id']}-retry.dead", origin="architect")
    hold = call_hold(user=architect_user, prepared=prepared, origin="architect", ref=ref)
    assert hold.status == "held"
    Execution.objects.filter(pk=execution_id).update(
        status="running", heartbeat_at=timezone.now() - timedelta(seconds=60), attempts=1,
        snapshot={**execution.snapshot, "prompts": [{**prompt, "id": f"{prompt['id']}-retry"}]})
    assert services.execution_reap_stale()["failed"] == 1
    hold = hold_find(origin="architect", ref=ref)
    assert hold is not None and hold.status in ("settled", "released")
    assert hold.charged == Decimal(0)  # nothing was metered for it: nothing is charged
