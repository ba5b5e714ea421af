"""WebSocket routes (forge progress, and later the workflow room and voice) as iterators of messages."""
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
