"""Workflows: DAG definitions, their runs, schedules and webhook triggers (API.md, Workflows)."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from .._route import Route, Section, resume_same
from ..models import Resource
from ..websocket import Room


class Workflow(Resource):
    """A workflow definition (its `trigger_secret` is only in the answers that create or rotate it)."""

    id: str
    name: str | None = None


class Run(Resource):
    """One run of a workflow, with its steps."""

    id: str
    status: str | None = None


class Workflows(Section):
    """Define, run, schedule and trigger workflows."""

    list = Route("GET", "/workflows", kind="page", model=Workflow)
    create = Route("POST", "/workflows", model=Workflow, doc="name, description, max_cost?, steps: [{name, kind, config, depends_on, ...}]")
    get = Route("GET", "/workflows/{id}", model=Workflow)
    update = Route("PATCH", "/workflows/{id}", model=Workflow)
    delete = Route("DELETE", "/workflows/{id}")
    duplicate = Route("POST", "/workflows/{id}/duplicate", model=Workflow)
    rotate_trigger_secret = Route("POST", "/workflows/{id}/trigger-secret")
    execute = Route("POST", "/workflows/{id}/execute", model=Run, doc="input -> 202 run")
    runs = Route("GET", "/workflows/{id}/runs", kind="page", model=Run)
    schedules = Route("GET", "/workflows/{id}/schedules", kind="page")
    create_schedule = Route("POST", "/workflows/{id}/schedules", doc="cron, timezone, input")
    delete_schedule = Route("DELETE", "/workflows/{id}/schedules/{schedule_id}")
    hook_check = Route("GET", "/hooks/{workflow_id}", doc="answers whether the webhook trigger accepts the request")
    hook = Route("POST", "/hooks/{workflow_id}", doc="a webhook trigger; sign it with `signature()` or pass ?token=")

    def room(self, workflow_id: str) -> Room:
        """The workflow's live editing room (async client): presence, cursors and versioned block edits.

        `async with client.workflows.room(id) as room:` then `await room.send("cursor:move", {...})`
        and `async for message in room` (`connected`, `user:join`, `ack`, `conflict`, ...).
        """
        return Room(self._client._options, f"/ws/workflows/{workflow_id}")

    @staticmethod
    def signature(secret: str, body: Any, *, timestamp: int | None = None) -> tuple[str, bytes]:
        """(`X-Nexus-Signature` header value, body bytes) for a webhook call with the workflow's trigger secret."""
        raw = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        stamp = int(time.time()) if timestamp is None else timestamp
        digest = hmac.new(secret.encode(), f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
        return f"t={stamp},v1={digest}", raw


class Runs(Section):
    """Follow, cancel and resume workflow runs."""

    get = Route("GET", "/runs/{run_id}", model=Run)
    events = Route("GET", "/runs/{run_id}/events", kind="sse", resume=resume_same, doc="SSE of the run's state changes, replayable")
    cancel = Route("POST", "/runs/{run_id}/cancel", model=Run)
    resume = Route("POST", "/runs/{run_id}/resume", model=Run, doc="re-runs failed and skipped steps, keeping earlier outputs")
