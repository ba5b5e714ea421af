"""WS /ws/forge/{session_id}: a build's progress, read from its `core.streams` stream from a cursor.

On connect the consumer checks the caller's roles grant the `forge` tool (else 4403) and that the
build is the caller's (else 4404), sends `connected`, then
every event after `?after=N` (default 0: from the start, so a late client first gets what it
missed), then follows live until the final `build_completed` or `error`, after which it closes
(1000). Each server message is `{type, data, seq}`; `seq` is the event's number in the stream,
which a reconnecting client passes back as `?after=`.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import parse_qs

from apps.accounts.selectors import user_has_tool
from apps.core.consumers import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, JsonConsumer
from apps.core.db import db_sync_to_async
from apps.core.streams import alast_event_id, subscribe

from .models import FINAL_STATUSES, Build
from .selectors import build_list, build_stream_key
from .sites import deployment_url


@db_sync_to_async
def _may_use_forge(user: Any) -> bool:
    return user_has_tool(user, "forge")


@db_sync_to_async
def _build_for(user: Any, session_id: str) -> Build | None:
    try:
        return build_list(user=user).filter(pk=session_id).first()
    except Exception:  # a malformed id: not found
        return None


def _final_event(build: Build) -> dict[str, Any]:
    """The last event of an ended build whose stream has expired (its state lives in PostgreSQL)."""
    if build.status == "completed":
        deployment = getattr(build, "deployment", None)
        return {"type": "build_completed", "data": {
            "deployment_url": deployment_url(deployment.slug) if deployment and deployment.status == "deployed" else None,
            "total_time": f"{int(build.duration_seconds or 0)} seconds", "summary": {"name": build.app_name}}}
    return {"type": "error", "data": build.error or {"phase": build.status, "error_code": "BUILD_FAILED",
                                                    "message": "The build did not complete.", "retry_possible": True}}


class BuildProgressConsumer(JsonConsumer):
    """Streams one build's events to its owner."""

    # No channel layer: events come from the build's Redis stream, never from groups. Without one, a
    # socket holds no blocking channel-layer read of its own (seen ending idle sockets with 1011 when
    # that read timed out while a build took its screenshots).
    channel_layer_alias = "forge-progress-needs-no-layer"
    follower: asyncio.Task[None] | None = None

    async def on_connect(self) -> None:
        session_id = str(self.scope["url_route"]["kwargs"]["session_id"])
        if not await _may_use_forge(self.scope["user"]):
            await self.close_with(CLOSE_FORBIDDEN)  # the caller's roles lack the forge tool, as the HTTP routes answer 403
            return
        build = await _build_for(self.scope["user"], session_id)
        if build is None:
            await self.close_with(CLOSE_NOT_FOUND)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode(errors="replace"))
        raw_after = (query.get("after") or ["0"])[0]
        after = int(raw_after) if raw_after.isdigit() else 0
        key = build_stream_key(build.pk)
        await self.send_json({"type": "connected", "seq": after, "data": {
            "session_id": str(build.pk), "status": build.status, "progress": build.progress, "message": build.message}})
        if build.status in FINAL_STATUSES and await alast_event_id(key) == 0:
            await self.send_json({**_final_event(build), "seq": 1})
            await self.close()
            return
        self.follower = asyncio.ensure_future(self._follow(key, after))

    async def _follow(self, key: str, after: int) -> None:
        async for event in subscribe(key, after=after):
            await self.send_json({"type": event.data.get("type"), "data": event.data.get("data") or {}, "seq": event.id})
            if event.final:
                await self.close()
                return

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        if content.get("type") == "ping":
            await self.send_json({"type": "pong", "data": {}})

    async def disconnect(self, code: int) -> None:
        if self.follower is not None:
            self.follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.follower
