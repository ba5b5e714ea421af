"""The tools that wait, end to end with eager Celery on committed data: call_agent (the fake A2A agent) and run_workflow."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from apps.agents import services as agents
from apps.billing.models import CreditTransaction
from apps.workflows import services as workflows
from tests.agents.conftest import agent_body, fake_agent, fake_agent_server  # noqa: F401  (fixtures)
from tests.factories import UserFactory
from tests.llm.conftest import committed_db  # noqa: F401  (fixture)

from .test_api import _call, _client

pytestmark = pytest.mark.django_db(transaction=True)


def test_call_agent_sends_an_a2a_task_waits_for_it_and_charges_its_price(committed_db: None, fake_agent: Any) -> None:  # noqa: F811
    owner, caller = UserFactory(), UserFactory()
    agent = agents.agent_create(user=owner, data=agent_body(fake_agent.url))
    answer = _call(_client(caller), "call_agent", {"agent_id": str(agent.pk), "input": "Summarize the minutes"})
    assert answer.status_code == 200, answer.content
    result = answer.json()["result"]
    assert result["status"] == "completed"
    assert result["reply"][0]["text"].startswith("Finished: Summarize the minutes")
    assert fake_agent.received[-1]["context_id"] == result["task_id"]
    spent = CreditTransaction.objects.filter(account__user=caller, reference=f"agent-task:{result['task_id']}")
    assert [(t.type, t.amount) for t in spent] == [("spent", Decimal("-5"))]  # the agent's price, as any task


def test_run_workflow_waits_for_the_run_and_answers_its_outputs(committed_db: None) -> None:  # noqa: F811
    user = UserFactory()
    workflow, _secret = workflows.workflow_create(user=user, name="Gate", steps=[{"name": "gate", "kind": "condition",
                                                                                  "config": {"expression": "input.n > 1"}}])
    answer = _call(_client(user), "run_workflow", {"workflow_id": str(workflow.pk), "input": {"n": 2}})
    assert answer.status_code == 200, answer.content
    result = answer.json()["result"]
    assert result["status"] == "completed", result
    assert result["outputs"] == {"0": True}
