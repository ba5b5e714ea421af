"""The SDK's agents and tasks sections against a live daphne and the loopback fake A2A agent."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nexus_sdk import NexusClient, NotFound

from tests.agents.conftest import agent_body, fake_agent, fake_agent_server  # noqa: F401  (fixtures)
from tests.conftest import LiveServer, start_daphne, stop_process

from .conftest import make_caller

pytestmark = pytest.mark.live


@pytest.fixture
def server(committed_db: None, fake_agent: Any, tmp_path: Path) -> Iterator[LiveServer]:  # noqa: F811
    """daphne where tasks are forwarded in the request (eager) and loopback agents are allowed."""
    live = start_daphne(tmp_path, CELERY_TASK_ALWAYS_EAGER="true", ALLOWED_PRIVATE_NETWORKS="127.0.0.0/8")
    yield live
    stop_process(live.process)


def test_agents_and_tasks_sections(server: LiveServer, fake_agent: Any) -> None:  # noqa: F811
    owner, requester = make_caller(), make_caller()
    with NexusClient(server.url, owner.key) as client:
        agent = client.agents.register(**agent_body(fake_agent.url))
        assert client.agents.get(agent.id).name == "Summarizer"
        assert client.agents.update(agent.id, description="Short notes from long documents.").description.startswith("Short")
        assert agent.id in [a.id for a in client.agents.list()]
        assert agent.id in [a.id for a in client.agents.discover(skill_tags=["summary"])]
        assert client.agents.heartbeat(agent.id, status="online")
        key = client.agents.create_key(agent.id, name="runner")
        assert [k["id"] for k in client.agents.keys(agent.id)] == [key["id"]]
        client.agents.revoke_key(agent.id, key["id"])
        assert client.agents.trust(agent.id)["agent_id"] == agent.id

    with NexusClient(server.url, requester.key) as client:
        task = client.tasks.create(assigned_agent_id=agent.id, title="Summary", description="Summarize", input={"text": "Hello"},
                                   timeout_seconds=30)
        assert task.id in [t.id for t in client.tasks.list()]
        events = list(client.tasks.stream(task.id))
        assert events and events[-1].event == "complete", [(e.event, e.type) for e in events]
        finished = client.tasks.get(task.id)
        assert finished.status == "completed"
        rating = client.agents.rate(agent.id, task_id=task.id, rating=5, comment="Quick")
        assert rating["rating"] == 5
        assert list(client.agents.trust_history(agent.id)) is not None
        with pytest.raises(NotFound):
            client.tasks.get("00000000-0000-0000-0000-000000000000")
        answer = client.agents.a2a(jsonrpc="2.0", id=1, method="tasks/get", params={"id": task.id})
        assert answer["jsonrpc"] == "2.0" and answer["id"] == 1
