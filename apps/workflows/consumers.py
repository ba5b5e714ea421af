"""WS /ws/workflows/{id}: the collaborative editing room of a workflow.

Only users who may edit the workflow join (no `workflows` tool or read-only: 4403; invisible:
4404). Presence is a Redis hash per workflow (so every web process sees the same room) and
messages go through the Redis channel layer group of the workflow. Client messages:
`workflow:join` (answered with the current state), `cursor:move {data}`, and
`block:add|update|delete {data, version}`: an edit is applied only on the current version (else
the sender gets `conflict {current_version}` and re-syncs), then every other editor receives it
with its sender and the new version, and the sender an `ack`.
"""
from __future__ import annotations

import json
from typing import Any

from apps.accounts.selectors import user_has_tool
from apps.core.consumers import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, JsonConsumer
from apps.core.db import db_sync_to_async
from apps.core.errors import ApplicationError
from apps.core.redis_client import redis_async

from .errors import VersionConflict
from .models import Workflow
from .selectors import workflow_can_edit, workflow_list
from .services import BLOCK_OPERATIONS, workflow_block_apply

PRESENCE_TTL_SECONDS = 6 * 3600


def presence_key(workflow_id: Any) -> str:
    """The Redis hash of who is in a workflow's room (channel name -> user)."""
    return f"nexus:workflows:presence:{workflow_id}"


@db_sync_to_async
def _room_access(user: Any, workflow_id: str) -> tuple[int, Workflow | None]:
    if not user_has_tool(user, "workflows"):
        return CLOSE_FORBIDDEN, None
    try:
        workflow = workflow_list(user=user).filter(pk=workflow_id).first()
    except Exception:  # a malformed id: not found
        workflow = None
    if workflow is None:
        return CLOSE_NOT_FOUND, None
    if not workflow_can_edit(user=user, workflow=workflow):
        return CLOSE_FORBIDDEN, None
    return 0, workflow


@db_sync_to_async
def _state(workflow_id: str) -> dict[str, Any]:
    workflow = Workflow.objects.get(pk=workflow_id)
    return {"workflow_id": str(workflow.pk), "version": workflow.version, "steps": workflow.steps, "name": workflow.name}


_apply = db_sync_to_async(workflow_block_apply)
_workflow = db_sync_to_async(lambda workflow_id: Workflow.objects.get(pk=workflow_id))


class WorkflowRoomConsumer(JsonConsumer):
    """One editor's connection to a workflow's room."""

    workflow_id: str = ""
    group: str = ""
    joined = False

    def _who(self) -> dict[str, Any]:
        user = self.scope["user"]
        return {"id": str(user.pk), "email": user.email, "name": getattr(user, "display_name", "") or user.email}

    async def on_connect(self) -> None:
        workflow_id = str(self.scope["url_route"]["kwargs"]["workflow_id"])
        code, workflow = await _room_access(self.scope["user"], workflow_id)
        if workflow is None:
            await self.close_with(code)
            return
        self.workflow_id = workflow_id
        self.group = f"workflow.{workflow_id}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        client = redis_async()
        await client.hset(presence_key(workflow_id), self.channel_name, json.dumps(self._who()))
        await client.expire(presence_key(workflow_id), PRESENCE_TTL_SECONDS)
        self.joined = True
        await self._broadcast({"type": "user:join", "data": self._who(), "users": await self._users()})
        await self.send_json({"type": "connected", "data": {**await _state(workflow_id), "users": await self._users()}})

    async def _users(self) -> list[dict[str, Any]]:
        raw = await redis_async().hgetall(presence_key(self.workflow_id))
        seen: dict[str, dict[str, Any]] = {}
        for value in raw.values():
            user = json.loads(value)
            seen[user["id"]] = user
        return list(seen.values())

    async def _broadcast(self, message: dict[str, Any]) -> None:
        await self.channel_layer.group_send(self.group, {"type": "room.message", "message": message, "sender": self.channel_name})

    async def room_message(self, event: dict[str, Any]) -> None:
        """A message of the room, forwarded to everyone but its sender."""
        if event.get("sender") != self.channel_name:
            await self.send_json(event["message"])

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        kind = content["type"]
        if kind == "workflow:join":
            await self.send_json({"type": "workflow:state", "data": {**await _state(self.workflow_id), "users": await self._users()}})
        elif kind == "cursor:move":
            await self._broadcast({"type": "cursor:move", "data": content.get("data"), "user": self._who()})
        elif kind in BLOCK_OPERATIONS:
            await self._edit(kind, content)
        elif kind == "ping":
            await self.send_json({"type": "pong", "data": {}})
        else:
            await self.send_error("VALIDATION_ERROR", f"Unknown message type {kind!r}.")

    async def _edit(self, kind: str, content: dict[str, Any]) -> None:
        workflow = await _workflow(self.workflow_id)
        if not await db_sync_to_async(workflow_can_edit)(user=self.scope["user"], workflow=workflow):
            await self.close_with(CLOSE_FORBIDDEN)  # lost the right to edit since joining
            return
        try:
            updated = await _apply(user=self.scope["user"], workflow=workflow, operation=kind, data=content.get("data"),
                                   version=content.get("version"))
        except VersionConflict as exc:
            await self.send_json({"type": "conflict", "data": {"current_version": exc.current_version}})
            return
        except ApplicationError as exc:
            await self.send_json({"type": "error", "data": {"code": exc.code, "message": exc.message, "details": exc.details}})
            return
        await self._broadcast({"type": kind, "data": content.get("data"), "version": updated.version, "user": self._who(),
                               "steps": updated.steps})
        await self.send_json({"type": "ack", "data": {"operation": kind, "version": updated.version, "steps": updated.steps}})

    async def disconnect(self, code: int) -> None:
        if not self.joined:
            return
        self.joined = False
        await self.channel_layer.group_discard(self.group, self.channel_name)
        try:
            await redis_async().hdel(presence_key(self.workflow_id), self.channel_name)
        except Exception:  # the hash expires by itself
            pass
        # With who is still here: the same user may be in the room on another connection (a reloaded
        # page joins before its old connection has left), so a leave alone cannot say who remains.
        try:
            users = await self._users()
        except Exception:
            users = None
        await self._broadcast({"type": "user:leave", "data": self._who(), "users": users})
