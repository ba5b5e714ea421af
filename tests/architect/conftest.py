"""Architect fixtures: the fake provider's models (from the llm tests), callers, tool bodies, an SSE reader."""
from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.chat.conftest import Caller, SseEvent, SseReader, make_caller  # noqa: F401  (re-exported)
from tests.llm.conftest import (  # noqa: F401  (fixtures re-exported for the architect tests)
    FakeModels,
    committed_db,
    fake_llm,
    fake_llm_server,
    fake_models,
    fresh_llm_state,
)


def read_sse(response: Any) -> list[dict[str, Any]]:
    """Every event of an in-process SSE response (its body is an async iterator), as `{id, event, data}`."""
    from asgiref.sync import async_to_sync

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    events = []
    for frame in async_to_sync(collect)().decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line and not line.startswith(":"))
        if "data" in fields:
            events.append({"id": fields.get("id"), "event": fields.get("event"), "data": json.loads(fields["data"])})
    return events


def client_for(user: Any) -> APIClient:
    """An in-process API client signed in as `user`."""
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def chain_body(*, name: str = "Chain", status: str = "published", first: str = "Say hi to {{topic}} #words=3",
               second: str = "Say bye to {{topic}} #words=2", third: str = "Join: {{greet}} / {{farewell}} #words=4",
               model: str = "fake-openai") -> dict[str, Any]:
    """A two-position chain: two prompts in parallel at position 1, one at position 2 using both."""
    return {
        "name": name, "description": "test chain", "status": status,
        "input_fields": [{"name": "topic", "label": "Topic", "type": "text", "required": True}],
        "prompts": [
            {"name": "greet", "position": 1, "model_id": model, "content": first},
            {"name": "farewell", "position": 1, "model_id": model, "content": second},
            {"name": "joined", "position": 2, "model_id": model, "system_prompt": "Be brief.", "content": third},
        ],
    }


@pytest.fixture
def architect_user(fake_models: FakeModels) -> Any:  # noqa: F811  (the fixture imported above)
    """A committed user with the default role and tier (the worker threads need committed rows)."""
    return make_caller().user
