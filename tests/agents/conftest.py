"""Agents fixtures: the loopback fake A2A agent, callers, loopback allowed as a private network."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.fakes.a2a_agent import FakeA2AAgent


@pytest.fixture(scope="session")
def fake_agent_server() -> Iterator[FakeA2AAgent]:
    """One fake A2A agent (a2a-sdk server) for the session."""
    server = FakeA2AAgent().start()
    yield server
    server.stop()


@pytest.fixture
def fake_agent(fake_agent_server: FakeA2AAgent, settings: Any) -> FakeA2AAgent:
    """The fake with an empty log; loopback is an allowed private network for the test (the fake lives there)."""
    settings.ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    fake_agent_server.clear()
    return fake_agent_server


def client_for(user: Any) -> APIClient:
    """An in-process API client signed in as `user`."""
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def agent_body(endpoint: str, **overrides: Any) -> dict[str, Any]:
    """A registration body with two skills."""
    body: dict[str, Any] = {
        "name": "Summarizer", "description": "Summarizes long documents into short notes.", "endpoint": endpoint,
        "category": "writing", "tags": ["nlp"], "metadata": {"model": "fake"}, "price_per_task": "5",
        "skills": [
            {"id": "summarize", "name": "Summarize", "description": "Short summary of a text", "tags": ["summary", "text"],
             "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
             "output_schema": {"type": "string"}},
            {"id": "translate", "name": "Translate", "description": "Translate between languages", "tags": ["translation"]},
        ],
    }
    body.update(overrides)
    return body


def read_sse(response: Any) -> list[dict[str, Any]]:
    """Every event of an in-process SSE response, as `{id, event, data}`."""
    import json

    from asgiref.sync import async_to_sync

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    events = []
    for frame in async_to_sync(collect)().decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line and not line.startswith(":"))
        if "data" in fields:
            events.append({"id": fields.get("id"), "event": fields.get("event"), "data": json.loads(fields["data"])})
    return events
