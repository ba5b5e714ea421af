"""Server-Sent Events as iterators of typed events that reconnect with Last-Event-ID after a dropped connection."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterable, Iterator
from typing import Any

import httpx

from ._transport import AsyncTransport, SyncTransport
from .errors import NexusConnectionError
from .models import ServerEvent

# Given the first answer (headers) and the last event read, the URL to GET with Last-Event-ID after a drop;
# None means the stream cannot be resumed (e.g. the POST failed before the server named the resource).
ResumeUrl = Callable[[httpx.Response, ServerEvent | None], str | None]


class SseParser:
    """Turns text lines into events (id, event, one JSON `data` object)."""

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}
        self._data: list[str] = []

    def feed(self, line: str) -> ServerEvent | None:
        """Consume one line; an event when a blank line ends one."""
        if not line:
            event = None
            if self._data:
                payload = json.loads("\n".join(self._data))
                if not isinstance(payload, dict):
                    payload = {"type": "message", "value": payload}
                payload.setdefault("type", self._fields.get("event", "message"))
                event = ServerEvent.model_validate({**payload, "id": self._fields.get("id"), "event": self._fields.get("event"),
                                                    "data": payload})
            self._fields, self._data = {}, []
            return event
        if line.startswith(":"):
            return None  # keep-alive comment
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name in ("id", "event", "retry"):
            self._fields[name] = value
        return None


def _parse(lines: Iterable[str]) -> Iterator[ServerEvent]:
    parser = SseParser()
    for line in lines:
        event = parser.feed(line.rstrip("\r"))
        if event is not None:
            yield event


_DROPPED = (httpx.TransportError, NexusConnectionError)


class EventStream(Iterator[ServerEvent]):
    """Iterates the events of one SSE answer; reconnects (GET with Last-Event-ID) when the connection drops."""

    def __init__(self, transport: SyncTransport, method: str, url: str, *, resume: ResumeUrl | None,
                 max_reconnects: int = 5, reconnect_wait: float = 0.5, **kwargs: Any) -> None:
        self._transport = transport
        self._request = (method, url, kwargs)
        self._resume = resume
        self.max_reconnects = max_reconnects
        self.reconnect_wait = reconnect_wait
        self.last_event_id: str | None = None
        self.reconnects = 0  # how many times the stream was resumed after a drop
        self.response_headers: httpx.Headers | None = None  # of the first answer (X-Conversation-Id, ...)
        self._iterator = self._events()

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> ServerEvent:
        return next(self._iterator)

    def close(self) -> None:
        """Stop reading (closes the connection)."""
        self._iterator.close()

    def _events(self) -> Generator[ServerEvent, None, None]:
        method, url, kwargs = self._request
        resume_url: str | None = None
        last: ServerEvent | None = None
        failures = 0
        while True:
            try:
                with self._transport.stream(method, url, **kwargs) as response:
                    if response.status_code == 204:
                        return  # nothing (more) to stream
                    if self.response_headers is None:
                        self.response_headers = response.headers
                    if resume_url is None and self._resume is not None:
                        resume_url = self._resume(response, last)
                    for event in _parse(response.iter_lines()):
                        last, failures = event, 0
                        if event.id is not None:
                            self.last_event_id = event.id
                        if resume_url is None and self._resume is not None:
                            resume_url = self._resume(response, event)
                        yield event
                    return
            except _DROPPED as exc:
                if resume_url is None or failures >= self.max_reconnects:
                    raise NexusConnectionError(f"event stream dropped: {exc}") from exc
                failures += 1
                self.reconnects += 1
                time.sleep(self.reconnect_wait * failures)
                headers = {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}
                method, url, kwargs = "GET", resume_url, {"headers": headers}


class AsyncEventStream(AsyncIterator[ServerEvent]):
    """The async twin of EventStream (`async for event in ...`)."""

    def __init__(self, transport: AsyncTransport, method: str, url: str, *, resume: ResumeUrl | None,
                 max_reconnects: int = 5, reconnect_wait: float = 0.5, **kwargs: Any) -> None:
        self._transport = transport
        self._request = (method, url, kwargs)
        self._resume = resume
        self.max_reconnects = max_reconnects
        self.reconnect_wait = reconnect_wait
        self.last_event_id: str | None = None
        self.reconnects = 0
        self.response_headers: httpx.Headers | None = None
        self._iterator = self._events()

    def __aiter__(self) -> AsyncEventStream:
        return self

    async def __anext__(self) -> ServerEvent:
        return await self._iterator.__anext__()

    async def aclose(self) -> None:
        """Stop reading (closes the connection)."""
        await self._iterator.aclose()

    async def _events(self) -> AsyncGenerator[ServerEvent, None]:
        method, url, kwargs = self._request
        resume_url: str | None = None
        last: ServerEvent | None = None
        failures = 0
        while True:
            try:
                async with self._transport.stream(method, url, **kwargs) as response:
                    if response.status_code == 204:
                        return
                    if self.response_headers is None:
                        self.response_headers = response.headers
                    if resume_url is None and self._resume is not None:
                        resume_url = self._resume(response, last)
                    parser = SseParser()
                    async for line in response.aiter_lines():
                        event = parser.feed(line.rstrip("\r"))
                        if event is None:
                            continue
                        last, failures = event, 0
                        if event.id is not None:
                            self.last_event_id = event.id
                        if resume_url is None and self._resume is not None:
                            resume_url = self._resume(response, event)
                        yield event
                    return
            except _DROPPED as exc:
                if resume_url is None or failures >= self.max_reconnects:
                    raise NexusConnectionError(f"event stream dropped: {exc}") from exc
                failures += 1
                self.reconnects += 1
                await asyncio.sleep(self.reconnect_wait * failures)
                headers = {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}
                method, url, kwargs = "GET", resume_url, {"headers": headers}
