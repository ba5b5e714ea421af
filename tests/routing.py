"""Test-only WebSocket routes on top of the real ones: an echo consumer on the JsonConsumer base."""
from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path

from apps.core.consumers import CLOSE_NOT_FOUND, JsonConsumer
from config.routing import websocket_urlpatterns as real_patterns


class EchoConsumer(JsonConsumer):
    """Says who is connected, echoes `echo` messages, refuses `/ws/test/echo/missing` with 4404."""

    async def on_connect(self) -> None:
        if self.scope["url_route"]["kwargs"].get("name") == "missing":
            await self.close_with(CLOSE_NOT_FOUND)
            return
        await self.send_json({"type": "connected", "data": {"user": self.scope["user"].email}})

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        await self.send_json({"type": "echo", "data": content})


websocket_urlpatterns: list[URLPattern] = [
    *real_patterns,
    path("ws/test/echo/<str:name>", EchoConsumer.as_asgi()),
]
