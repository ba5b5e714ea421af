"""Tasks sent to the fake A2A agent, forwarded in-process (eager Celery) on the real Redis and PostgreSQL:
lifecycle, input-required and reply, failure, timeout, SSE replay, escrowed billing, trust and ratings, BOLA."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from apps.agents import services
from apps.agents.models import Agent, Task
from apps.billing.models import CreditReservation, CreditTransaction
from apps.billing.selectors import balance_for
from tests.factories import UserFactory
from tests.llm.conftest import committed_db  # noqa: F401  (fixture)

from .conftest import agent_body, client_for, read_sse

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def people(committed_db: None, fake_agent: Any) -> dict[str, Any]:  # noqa: F811
    """An agent owner with a registered agent (price 5), and a requester."""
    owner, requester = UserFactory(), UserFactory()
    answer = client_for(owner).post("/api/v1/agents", agent_body(fake_agent.url), format="json")
    assert answer.status_code == 201, answer.content
    return {"owner": owner, "requester": requester, "agent": answer.json(), "fake": fake_agent}


def _submit(people: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    body = {"assigned_agent_id": people["agent"]["id"], "title": "Job", "description": description, "input": {"text": "abc"}, **extra}
    answer = client_for(people["requester"]).post("/api/v1/tasks", body, format="json")
    assert answer.status_code == 202, answer.content
    return answer.json()


def _task(people: dict[str, Any], task_id: str, who: str = "requester") -> dict[str, Any]:
    answer = client_for(people[who]).get(f"/api/v1/tasks/{task_id}")
    assert answer.status_code == 200, answer.content
    return answer.json()


def _ledger(user: Any, task_id: str) -> list[tuple[str, Decimal]]:
    return sorted((t.type, t.amount) for t in CreditTransaction.objects.filter(account__user=user, reference=f"agent-task:{task_id}"))


def test_a_task_completes_with_messages_artifacts_and_money_moved_once(people: dict[str, Any]) -> None:
    before_requester = balance_for(user=people["requester"])
    before_owner = balance_for(user=people["owner"])
    task = _submit(people, "Summarize this")
    assert task["status"] in ("submitted", "working", "completed")
    done = _task(people, task["id"])
    assert done["status"] == "completed", done
    assert [m["role"] for m in done["messages"]] == ["user", "agent"]
    assert done["messages"][0]["parts"] == [{"kind": "text", "text": "Summarize this"}, {"kind": "data", "data": {"text": "abc"}}]
    assert done["messages"][1]["parts"][0]["text"].startswith("Finished: Summarize this")
    assert done["artifacts"][0]["name"] == "result" and done["artifacts"][0]["parts"][0]["text"].startswith("Done: Summarize this")
    # The agent got the task's text and data over A2A (v0.3 `message/send`), under the task's id as the context.
    assert people["fake"].received[-1]["context_id"] == task["id"]
    assert people["fake"].methods == ["message/send"]
    # Escrow: 5 credits from the requester (spent) to the owner (earned), once; the hold is released.
    assert _ledger(people["requester"], task["id"]) == [("spent", Decimal("-5"))]
    assert _ledger(people["owner"], task["id"]) == [("earned", Decimal("5"))]
    assert CreditReservation.objects.get(idempotency_key=f"agent-task-hold:{task['id']}").status == "released"
    after_requester, after_owner = balance_for(user=people["requester"]), balance_for(user=people["owner"])
    assert after_requester["balance"] == before_requester["balance"] - 5
    assert after_requester["total_spent"] == before_requester["total_spent"] + 5
    assert after_owner["balance"] == before_owner["balance"] + 5
    assert after_owner["total_earned"] == before_owner["total_earned"] + 5
    # Finishing again (a late worker, the reaper) moves nothing.
    assert services.task_finish(task_id=task["id"], status="failed") is False
    assert _ledger(people["requester"], task["id"]) == [("spent", Decimal("-5"))]
    # The owner sees the work sent to their agent, read-only.
    assert _task(people, task["id"], who="owner")["status"] == "completed"
    assert client_for(people["owner"]).post(f"/api/v1/tasks/{task['id']}/cancel").status_code == 403


def test_the_event_stream_replays_from_last_event_id(people: dict[str, Any]) -> None:
    task = _submit(people, "Stream me")
    client = client_for(people["requester"])
    events = read_sse(client.get(f"/api/v1/tasks/{task['id']}/stream"))
    kinds = [e["event"] for e in events]
    assert kinds == ["status", "status", "message", "artifact", "status", "complete"], events
    assert [e["data"].get("status") for e in events if e["event"] == "status"] == ["submitted", "working", "completed"]
    assert all(e["event"] == e["data"]["type"] for e in events)
    assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))
    replay = read_sse(client.get(f"/api/v1/tasks/{task['id']}/stream", HTTP_LAST_EVENT_ID="3"))
    assert [e["id"] for e in replay] == [e["id"] for e in events[3:]]
    assert replay[-1]["data"] == {"type": "complete", "status": "completed"}


def test_input_required_then_reply_completes(people: dict[str, Any]) -> None:
    task = _submit(people, "Translate #input")
    waiting = _task(people, task["id"])
    assert waiting["status"] == "input-required"
    assert waiting["messages"][-1]["parts"][0]["text"] == "Which language should I answer in?"
    assert CreditReservation.objects.get(idempotency_key=f"agent-task-hold:{task['id']}").status == "held"  # still in escrow
    client = client_for(people["requester"])
    assert client.post(f"/api/v1/tasks/{task['id']}/reply", {}, format="json").status_code == 400
    assert client_for(people["owner"]).post(f"/api/v1/tasks/{task['id']}/reply", {"message": "x"}, format="json").status_code == 403
    answer = client.post(f"/api/v1/tasks/{task['id']}/reply", {"message": "English"}, format="json")
    assert answer.status_code == 202, answer.content
    done = _task(people, task["id"])
    assert done["status"] == "completed"
    assert [m["role"] for m in done["messages"]] == ["user", "agent", "user", "agent"]
    # The reply continued the agent's own task.
    assert people["fake"].received[-1]["text"] == "English"
    assert people["fake"].received[-1]["task_id"] == people["fake"].received[-2]["task_id"]
    assert _ledger(people["requester"], task["id"]) == [("spent", Decimal("-5"))]
    assert client.post(f"/api/v1/tasks/{task['id']}/reply", {"message": "again"}, format="json").status_code == 409


def test_a_failed_task_releases_the_hold_and_lowers_trust(people: dict[str, Any]) -> None:
    before = balance_for(user=people["requester"])
    task = _submit(people, "Do it #fail")
    done = _task(people, task["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "AGENT_FAILED" and "failed on purpose" in done["error"]["message"]
    assert _ledger(people["requester"], task["id"]) == [] and _ledger(people["owner"], task["id"]) == []
    assert balance_for(user=people["requester"])["available"] == before["available"]
    trust = client_for(people["requester"]).get(f"/api/v1/trust/{people['agent']['id']}").json()
    assert trust["components"]["reliability"] == 0.0
    assert trust["recent_events"][0]["kind"] == "task_failed"


def test_a_silent_agent_times_out_and_the_hold_is_released(people: dict[str, Any]) -> None:
    task = _submit(people, "Wait #hang", timeout_seconds=2)
    done = _task(people, task["id"])
    assert done["status"] == "timed_out" and done["error"]["code"] == "TASK_TIMEOUT"
    assert _ledger(people["requester"], task["id"]) == []
    assert CreditReservation.objects.get(idempotency_key=f"agent-task-hold:{task['id']}").status == "released"


def test_an_unreachable_agent_fails_the_task(people: dict[str, Any], settings: Any) -> None:
    Agent.objects.filter(pk=people["agent"]["id"]).update(endpoint="http://127.0.0.1:9/")
    task = _submit(people, "Anyone there?")
    done = _task(people, task["id"])
    assert done["status"] == "failed" and done["error"]["code"] == "AGENT_UNREACHABLE"


def test_the_call_time_check_refuses_an_endpoint_that_became_private(people: dict[str, Any], settings: Any) -> None:
    """Saved while loopback was allowed; the rule changed, so the worker refuses to call it."""
    settings.ALLOWED_PRIVATE_NETWORKS = []
    task = _submit(people, "Hello")
    done = _task(people, task["id"])
    assert done["status"] == "failed" and done["error"]["code"] == "ENDPOINT_REFUSED"
    assert people["fake"].received == []


def test_402_when_the_requester_cannot_pay(people: dict[str, Any]) -> None:
    Agent.objects.filter(pk=people["agent"]["id"]).update(price_per_task=Decimal("100000"))
    body = {"assigned_agent_id": people["agent"]["id"], "description": "Expensive"}
    answer = client_for(people["requester"]).post("/api/v1/tasks", body, format="json")
    assert answer.status_code == 402 and answer.json()["error"]["code"] == "INSUFFICIENT_CREDITS"
    assert not Task.objects.exists()


def test_cancel_an_input_required_task(people: dict[str, Any]) -> None:
    task = _submit(people, "Ask me #input")
    client = client_for(people["requester"])
    answer = client.post(f"/api/v1/tasks/{task['id']}/cancel")
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    assert client.post(f"/api/v1/tasks/{task['id']}/cancel").status_code == 409
    assert _ledger(people["requester"], task["id"]) == []
    assert CreditReservation.objects.get(idempotency_key=f"agent-task-hold:{task['id']}").status == "released"
    assert people["fake"].cancelled == [people["fake"].received[-1]["task_id"]]  # tasks/cancel reached the agent
    assert people["fake"].methods == ["message/send", "tasks/cancel"]


def test_rating_once_by_the_requester_moves_trust(people: dict[str, Any]) -> None:
    agent_id = people["agent"]["id"]
    task = _submit(people, "Rate me")
    requester, owner, stranger = client_for(people["requester"]), client_for(people["owner"]), client_for(UserFactory())
    before = requester.get(f"/api/v1/trust/{agent_id}").json()
    assert before["components"]["reliability"] == 1.0
    assert owner.post(f"/api/v1/trust/{agent_id}/rate", {"task_id": task["id"], "rating": 5}, format="json").status_code == 403
    assert stranger.post(f"/api/v1/trust/{agent_id}/rate", {"task_id": task["id"], "rating": 5}, format="json").status_code == 404
    assert requester.post(f"/api/v1/trust/{agent_id}/rate", {"task_id": task["id"], "rating": 6}, format="json").status_code == 400
    rated = requester.post(f"/api/v1/trust/{agent_id}/rate", {"task_id": task["id"], "rating": 1, "comment": "meh"}, format="json")
    assert rated.status_code == 201, rated.content
    assert requester.post(f"/api/v1/trust/{agent_id}/rate", {"task_id": task["id"], "rating": 5}, format="json").status_code == 409
    after = requester.get(f"/api/v1/trust/{agent_id}").json()
    assert after["components"]["quality"] == 0.0
    assert after["trust_score"] < before["trust_score"]
    history = requester.get(f"/api/v1/trust/{agent_id}/history").json()
    assert [e["kind"] for e in history["results"]][:3] == ["rated", "task_completed", "registered"]
    assert history["results"][0]["score"] == after["trust_score"]
    # A good rating on a second task lifts it again.
    second = _submit(people, "Again")
    requester.post(f"/api/v1/trust/{agent_id}/rate", {"task_id": second["id"], "rating": 5}, format="json")
    assert requester.get(f"/api/v1/trust/{agent_id}").json()["trust_score"] > after["trust_score"]


def test_tasks_are_invisible_to_other_users(people: dict[str, Any]) -> None:
    task = _submit(people, "Private work")
    stranger = client_for(UserFactory())
    for answer in (stranger.get(f"/api/v1/tasks/{task['id']}"), stranger.get(f"/api/v1/tasks/{task['id']}/stream"),
                   stranger.post(f"/api/v1/tasks/{task['id']}/cancel"),
                   stranger.post(f"/api/v1/tasks/{task['id']}/reply", {"message": "x"}, format="json")):
        assert answer.status_code == 404, answer.content
    assert stranger.get("/api/v1/tasks").json()["count"] == 0
    assert client_for(people["requester"]).get("/api/v1/tasks").json()["count"] == 1


def test_the_agent_reports_with_its_own_key(people: dict[str, Any]) -> None:
    """An agent that works after answering may report messages, artifacts and the end with its nxa_ key."""
    from rest_framework.test import APIClient

    agent = Agent.objects.get(pk=people["agent"]["id"])
    _key, raw = services.agent_key_create(agent=agent, name="worker")
    other_agent = services.agent_create(user=people["owner"], data=agent_body(people["fake"].url, name="Other"))
    _other, other_raw = services.agent_key_create(agent=other_agent, name="other")
    task = _submit(people, "Later #input")
    anonymous = APIClient()
    report = {"message": {"role": "agent", "parts": [{"type": "text", "data": "Here is the result."}]},
              "artifacts": [{"name": "report", "parts": [{"kind": "data", "data": {"score": 3}}]}], "status": "completed"}
    assert anonymous.post(f"/api/v1/tasks/{task['id']}/reply", report, format="json", HTTP_X_AGENT_KEY=other_raw).status_code == 404
    assert anonymous.post(f"/api/v1/tasks/{task['id']}/reply", report, format="json", HTTP_X_AGENT_KEY="nxa_bad").status_code == 401
    answer = anonymous.post(f"/api/v1/tasks/{task['id']}/reply", report, format="json", HTTP_X_AGENT_KEY=raw)
    assert answer.status_code == 202, answer.content
    done = _task(people, task["id"])
    assert done["status"] == "completed"
    assert done["messages"][-1] == {**done["messages"][-1], "role": "agent", "parts": [{"kind": "text", "text": "Here is the result."}]}
    assert [a["name"] for a in done["artifacts"]] == ["report"] and done["artifacts"][0]["parts"] == [{"kind": "data", "data": {"score": 3}}]
    assert _ledger(people["requester"], task["id"]) == [("spent", Decimal("-5"))]
    assert _ledger(people["owner"], task["id"]) == [("earned", Decimal("5"))]
    assert anonymous.post(f"/api/v1/tasks/{task['id']}/reply", report, format="json", HTTP_X_AGENT_KEY=raw).status_code == 409


def test_the_requester_may_reply_in_the_message_object_shape(people: dict[str, Any]) -> None:
    task = _submit(people, "Ask #input")
    body = {"message": {"role": "user", "parts": [{"type": "text", "data": "German"}]}}
    answer = client_for(people["requester"]).post(f"/api/v1/tasks/{task['id']}/reply", body, format="json")
    assert answer.status_code == 202, answer.content
    assert _task(people, task["id"])["status"] == "completed"
    assert people["fake"].received[-1]["text"] == "German"
    bad = client_for(people["requester"]).post(f"/api/v1/tasks/{task['id']}/reply", {"message": {"parts": [{"kind": "video"}]}}, format="json")
    assert bad.status_code in (400, 409)


def test_an_agent_speaking_a2a_v1_gets_the_v1_method_names(people: dict[str, Any]) -> None:
    Agent.objects.filter(pk=people["agent"]["id"]).update(protocol_version="1.0")
    task = _submit(people, "New protocol #input")
    assert _task(people, task["id"])["status"] == "input-required"
    client_for(people["requester"]).post(f"/api/v1/tasks/{task['id']}/reply", {"message": "Dutch"}, format="json")
    done = _task(people, task["id"])
    assert done["status"] == "completed" and done["artifacts"][0]["parts"][0]["text"] == "Done: Dutch"
    assert people["fake"].methods == ["SendMessage", "SendMessage"]


def test_the_stream_of_an_old_task_still_ends(people: dict[str, Any]) -> None:
    """Its events expired from Redis: a reader gets the task's final status and the stream ends."""
    from apps.agents.selectors import task_stream_key
    from apps.core.streams import delete_stream

    task = _submit(people, "Old news")
    delete_stream(task_stream_key(task["id"]))
    events = read_sse(client_for(people["requester"]).get(f"/api/v1/tasks/{task['id']}/stream"))
    assert [(e["event"], e["data"]["status"]) for e in events] == [("status", "completed"), ("complete", "completed")]


def test_the_reaper_forwards_a_submitted_task_nobody_claimed_once(people: dict[str, Any], settings: Any) -> None:
    """A forwarding message lost with a killed worker: the reaper queues the task again, and only once."""
    from datetime import timedelta

    from django.utils import timezone

    agent = Agent.objects.get(pk=people["agent"]["id"])
    task = services.task_submit(user=people["requester"], agent=agent, title="Job", description="Lost message", forward=False)
    assert services.task_reap_stale() == {"requeued": 0, "failed": 0, "timed_out": 0}  # not overdue yet
    Task.objects.filter(pk=task.pk).update(updated_at=timezone.now() - timedelta(seconds=settings.AGENTS_TASK_STALE_SECONDS + 1))
    assert services.task_reap_stale() == {"requeued": 1, "failed": 0, "timed_out": 0}
    assert _task(people, str(task.pk))["status"] == "completed"  # forwarded (eagerly here) and finished
    assert services.task_reap_stale() == {"requeued": 0, "failed": 0, "timed_out": 0}
    assert _ledger(people["requester"], str(task.pk)) == [("spent", Decimal("-5"))]
