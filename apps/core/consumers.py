"""The base of every WebSocket consumer, and the token authentication of API.md.

- `TokenAuthMiddleware`: a connection authenticates with the session cookie (Channels'
  `AuthMiddlewareStack`) or `?token=<access JWT or nxk_ key>`, checked by the same code as the
  HTTP API (expired keys, revoked tokens, inactive users refused).
- `JsonConsumer`: messages are JSON objects with a `type`, decoded with the same size and depth
  bounds as HTTP bodies (`core.parsers.json_loads_bounded`): an oversize, too deep, malformed or
  non-object message gets an `error` message (`{"type": "error", "data": {"code", "message"}}`)
  and the connection stays open; nothing reaches the handler. A connection without a user is
  closed with 4401; subclasses refuse what the user may not see with 4403/4404 (`close_with`).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from .errors import ApplicationError

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


@database_sync_to_async
def _user_for_token(token: str) -> Any:
    from rest_framework.exceptions import APIException
    from rest_framework.request import Request
    from rest_framework.settings import api_settings
    from rest_framework.test import APIRequestFactory

    # The HTTP authenticators are the one place credentials are checked; run them on a bare request.
    # (api_settings imports the configured dotted paths, so these are classes; the stubs say strings.)
    authenticators = [auth() for auth in api_settings.DEFAULT_AUTHENTICATION_CLASSES]  # type: ignore[operator]
    request = Request(APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {token}"), authenticators=authenticators)
    try:
        user = request.user
    except (APIException, ApplicationError):  # unknown, revoked or expired credentials
        return AnonymousUser()
    return user if getattr(user, "is_active", False) else AnonymousUser()


class TokenAuthMiddleware:
    """Sets `scope["user"]` from `?token=` when the query string carries one (else the session's user stays)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        token = (parse_qs(scope.get("query_string", b"").decode(errors="replace")).get("token") or [""])[0]
        if token:
            scope = {**scope, "user": await _user_for_token(token)}
        return await self.inner(scope, receive, send)


class JsonConsumer(AsyncJsonWebsocketConsumer):
    """JSON-object messages with a `type`, bounded like HTTP bodies; unauthenticated connections closed with 4401."""

    async def connect(self) -> None:
        # Accept first, then close with the code: a handshake refused outright reaches the client as
        # an HTTP 403 with no reason, while API.md promises 4401/4403/4404.
        await self.accept()
        user = self.scope.get("user")
        if user is None or not getattr(user, "is_authenticated", False):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.on_connect()

    async def on_connect(self) -> None:
        """Called once the connection is accepted (send `connected`, join groups...)."""

    async def close_with(self, code: int) -> None:
        """Refuse the connection (4403 forbidden, 4404 not found) before or after accepting it."""
        await self.close(code=code)

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        from .parsers import json_loads_bounded

        return json_loads_bounded(text_data, max_bytes=settings.WEBSOCKET_MAX_MESSAGE_BYTES)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if text_data is None:
            await self.send_error("VALIDATION_ERROR", "Messages are JSON text frames.")
            return
        try:
            content = await self.decode_json(text_data)
        except ApplicationError as exc:
            await self.send_error(exc.code, exc.message)
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.send_error("VALIDATION_ERROR", "A message is a JSON object with a string `type`.")
            return
        try:
            await self.receive_json(content, **kwargs)
        except ApplicationError as exc:
            await self.send_error(exc.code, exc.message)

    async def send_error(self, code: str, message: str) -> None:
        """An `error` message; the connection stays open."""
        await self.send_json({"type": "error", "data": {"code": code, "message": message}})
