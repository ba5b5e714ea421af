"""WebSocket routes: forge progress as iterators of messages, the workflow room as a two-way `Room` (voice later)."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

from ._transport import Options
from .errors import Forbidden, NexusConnectionError, NexusError, NotFound, Unauthorized
from .models import Resource


class WsMessage(Resource):
    """One server message: `type`, `data` and, where ordered, `seq`."""

    type: str
    data: Any = None
    seq: int | None = None


_CLOSE_ERRORS: dict[int, type[NexusError]] = {4401: Unauthorized, 4403: Forbidden, 4404: NotFound}


def ws_url(options: Options, path: str) -> str:
    """The ws(s):// URL of a path (or of a full URL the API answered), with the credentials as `?token=`."""
    if "://" in path:
        path = urlsplit(path)._replace(scheme="", netloc="").geturl()
    base = options.base_url.rstrip("/").replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    query = urlencode({"token": options.api_key}) if options.api_key else ""
    return f"{base}{path}{('&' if '?' in path else '?') + query if query else ''}"


def _closed_error(code: int | None, reason: str) -> NexusError | None:
    if code in (None, 1000, 1001):
        return None
    cls = _CLOSE_ERRORS.get(code or 0, NexusConnectionError)
    return cls(reason or f"WebSocket closed with code {code}", status=code)


def iterate_sync(options: Options, path: str) -> Iterator[WsMessage]:
    """Messages until the server closes normally; a refusal raises Unauthorized, Forbidden or NotFound."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    timeout = options.timeout.connect or 10
    try:
        with connect(ws_url(options, path), open_timeout=timeout, user_agent_header="nexus-sdk-python/0.1") as socket:
            while True:
                yield WsMessage.model_validate(json.loads(socket.recv()))
    except ConnectionClosed as exc:
        error = _closed_error(exc.rcvd.code if exc.rcvd else None, exc.rcvd.reason if exc.rcvd else "")
        if error is not None:
            raise error from exc
    except OSError as exc:
        raise NexusConnectionError(f"WebSocket {path}: {exc}") from exc


async def iterate_async(options: Options, path: str) -> AsyncIterator[WsMessage]:
    """The async twin of iterate_sync (`async for message in ...`)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    timeout = options.timeout.connect or 10
    try:
        async with connect(ws_url(options, path), open_timeout=timeout, user_agent_header="nexus-sdk-python/0.1") as socket:
            while True:
                yield WsMessage.model_validate(json.loads(await socket.recv()))
    except ConnectionClosed as exc:
        error = _closed_error(exc.rcvd.code if exc.rcvd else None, exc.rcvd.reason if exc.rcvd else "")
        if error is not None:
            raise error from exc
    except OSError as exc:
        raise NexusConnectionError(f"WebSocket {path}: {exc}") from exc


class Room:
    """A two-way WebSocket room (the workflow editor): `await room.send(type, data)`, `async for message in room`.

    Use it as `async with client.workflows.room(workflow_id) as room:`; a refusal raises Unauthorized,
    Forbidden or NotFound when the room is entered.
    """

    def __init__(self, options: Options, path: str) -> None:
        self._options, self._path = options, path
        self._socket: Any = None
        self._context: Any = None

    async def __aenter__(self) -> Room:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus

        timeout = self._options.timeout.connect or 10
        self._context = connect(ws_url(self._options, self._path), open_timeout=timeout, user_agent_header="nexus-sdk-python/0.1")
        try:
            self._socket = await self._context.__aenter__()
        except InvalidStatus as exc:
            raise NexusConnectionError(f"WebSocket {self._path}: {exc}") from exc
        except OSError as exc:
            raise NexusConnectionError(f"WebSocket {self._path}: {exc}") from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._context.__aexit__(*exc)

    async def send(self, type: str, data: Any = None, **fields: Any) -> None:
        """Send one message `{type, data, ...}` (e.g. `cursor:move`, a block operation with its `version`)."""
        await self._socket.send(json.dumps({"type": type, "data": data, **fields}))

    async def receive(self) -> WsMessage:
        """The next message; a close by the server with 4401/4403/4404 raises the matching error."""
        from websockets.exceptions import ConnectionClosed

        try:
            return WsMessage.model_validate(json.loads(await self._socket.recv()))
        except ConnectionClosed as exc:
            error = _closed_error(exc.rcvd.code if exc.rcvd else None, exc.rcvd.reason if exc.rcvd else "")
            raise error or NexusConnectionError(f"WebSocket {self._path} closed") from exc

    def __aiter__(self) -> Room:
        return self

    async def __anext__(self) -> WsMessage:
        try:
            return await self.receive()
        except NexusConnectionError as exc:
            if exc.status in (None, 1000, 1001):
                raise StopAsyncIteration from exc
            raise
