"""Workflows fixtures: in-process clients, step lists, and the fake provider's models (from the llm tests)."""
from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.conftest import WorkerProcess, WorkerStart
from tests.llm.conftest import (  # noqa: F401  (fixtures re-exported for the workflows tests)
    FakeModels,
    committed_db,
    fake_llm,
    fake_llm_server,
    fake_models,
    fresh_llm_state,
)


def client_for(user: Any) -> APIClient:
    """An in-process API client signed in as `user`."""
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def condition(name: str, expression: str, depends_on: list[int] | None = None, **extra: Any) -> dict[str, Any]:
    """A condition step."""
    return {"name": name, "kind": "condition", "config": {"expression": expression}, "depends_on": depends_on or [], **extra}


def llm(name: str, prompt: str, model: str, depends_on: list[int] | None = None, **extra: Any) -> dict[str, Any]:
    """An llm step."""
    return {"name": name, "kind": "llm", "config": {"model_id": model, "prompt": prompt}, "depends_on": depends_on or [], **extra}


def create(client: APIClient, steps: list[dict[str, Any]], **extra: Any) -> Any:
    """POST /workflows."""
    return client.post("/api/v1/workflows", {"name": "Flow", "steps": steps, **extra}, format="json")


@pytest.fixture
def flow_worker(fake_models: Any, worker_start: WorkerStart) -> WorkerProcess:  # noqa: F811  (the fixture imported above)
    """A real worker on the `default` and `workflows` queues; tasks go through Redis (no eager mode)."""
    return worker_start(queues="default,workflows")
