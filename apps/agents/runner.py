"""Forwards one turn of a task to its agent inside a Celery task, and reports what came back.

The service `task_forward` claims the task first (submitted, or working with a stale heartbeat),
so a redelivered or re-queued message never forwards beside a live run. While the A2A call is open,
`core.runs.run_watch` renews the task's heartbeat (the lease), polls its cancel flag and enforces
the turn's deadline. A cancel or a timeout closes the call and forwards `tasks/cancel` to the agent.
The runner never writes the task's end: it returns a `TurnOutcome`, which the service applies in one
transaction with the billing, so that money moves exactly once.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.utils import timezone

from apps.core.db import db_sync_to_async
from apps.core.runs import cancel_clear, run_watch, shielded, worker_id

from . import a2a_client
from .models import Task, TaskMessage, TaskStatus
from .selectors import task_cancel_key

logger = logging.getLogger("nexus.agents")
POLL_SECONDS = 1.0


@dataclass
class TurnOutcome:
    """What one forwarded turn ended with."""

    status: str
    remote_task_id: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None


def _pending_parts(task: Task) -> list[dict[str, Any]]:
    message = TaskMessage.objects.filter(task=task, role="user", turn=task.turn).order_by("-created_at").first()
    return list(message.parts) if message is not None else [{"kind": "text", "text": task.description or task.title}]


def _renew(task_id: Any, worker: str) -> bool:
    return bool(Task.objects.filter(pk=task_id, status=TaskStatus.WORKING, worker=worker).update(heartbeat_at=timezone.now()))


async def _forward(task: Task, parts: list[dict[str, Any]], worker: str) -> TurnOutcome:
    agent = task.agent
    deadline = task.deadline_at.timestamp() if task.deadline_at else time.time() + task.timeout_seconds
    remaining = max(deadline - time.time(), 0.1)

    async def exchange() -> a2a_client.AgentReply:
        reply = await a2a_client.message_send(
            endpoint=agent.endpoint, protocol_version=agent.protocol_version, parts=parts, context_id=str(task.pk),
            remote_task_id=task.remote_task_id, message_id=f"{task.pk}-{task.turn}", timeout=remaining + 5,
        )
        # An agent that answers before it is done (state working) is asked again until it is.
        while reply.status == TaskStatus.WORKING and reply.remote_task_id:
            task.remote_task_id = reply.remote_task_id
            await asyncio.sleep(POLL_SECONDS)
            reply = await a2a_client.task_get(endpoint=agent.endpoint, protocol_version=agent.protocol_version,
                                              remote_task_id=reply.remote_task_id)
        return reply

    call = asyncio.ensure_future(exchange())
    renew = db_sync_to_async(_renew)

    async def beat() -> bool:
        return await renew(task.pk, worker)

    watcher = asyncio.ensure_future(run_watch(
        task_cancel_key(task.pk), call, beat=beat, beat_every=settings.AGENTS_TASK_HEARTBEAT_SECONDS,
        check=lambda: "timeout" if time.time() >= deadline else None,
    ))
    try:
        reply = await call
    except asyncio.CancelledError:
        if not call.cancelled():
            raise  # this task itself is being cancelled (worker shutdown)
        reason = await watcher
        remote = task.remote_task_id
        if remote:
            await shielded(a2a_client.task_cancel(endpoint=agent.endpoint, protocol_version=agent.protocol_version, remote_task_id=remote))
        if reason == "timeout":
            return TurnOutcome(status=TaskStatus.TIMED_OUT, error={"code": "TASK_TIMEOUT",
                                                                   "message": f"The agent did not answer within {task.timeout_seconds} seconds."})
        if reason == "lost":
            return TurnOutcome(status="lost")
        return TurnOutcome(status=TaskStatus.CANCELLED)
    except a2a_client.AgentCallFailed as exc:
        return TurnOutcome(status=TaskStatus.FAILED, error={"code": exc.code, "message": exc.message})
    finally:
        if not watcher.done():
            watcher.cancel()
        await cancel_clear(task_cancel_key(task.pk))
    outcome = TurnOutcome(status=reply.status, remote_task_id=reply.remote_task_id, messages=reply.messages, artifacts=reply.artifacts)
    if reply.status == TaskStatus.FAILED:
        text = " ".join(p.get("text", "") for m in reply.messages for p in m["parts"] if p.get("kind") == "text")
        outcome.error = {"code": "AGENT_FAILED", "message": text[:500] or "The agent reported a failure."}
    return outcome


def turn_forward(*, task: Task) -> TurnOutcome:
    """Send the task's pending user message to its agent and wait for the answer (or cancel, timeout, lost lease)."""
    parts = _pending_parts(task)
    return async_to_sync(_forward)(task, parts, task.worker or worker_id())
