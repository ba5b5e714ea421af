"""Server-Sent Events for async views: `id:` lines, Last-Event-ID replay, keep-alive comments.

    async def get(request, execution_id):
        key = stream_key("execution", execution_id)
        return sse_stream_response(subscribe(key, after=last_event_id_from(request)), named=True)

A client that disconnects cancels only its reader; the run it watched goes on.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse

from .streams import StreamEvent

KEEPALIVE = b": keep-alive\n\n"
# Sent first: tells EventSource how soon to reconnect, and makes servers flush the headers at once
# (twisted, under daphne, holds them back until the first body bytes).
PREAMBLE = b"retry: 2000\n\n"


def last_event_id_from(request: HttpRequest) -> int:
    """The `Last-Event-ID` header (or `?last_event_id=`) as a number; 0 when absent or malformed."""
    raw = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id") or "0"
    try:
        return max(0, int(raw.strip()))
    except ValueError:
        return 0


def format_event(event_id: int | str | None, data: dict[str, Any], *, named: bool = False) -> bytes:
    """One SSE frame: `id:`, `event:` (task streams), `data:` with one JSON object."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if named and "type" in data:
        lines.append(f"event: {data['type']}")
    lines.append("data: " + json.dumps(data, separators=(",", ":"), default=str))
    return ("\n".join(lines) + "\n\n").encode()


async def _with_keepalive(events: AsyncIterator[StreamEvent], *, named: bool, keepalive: float) -> AsyncIterator[bytes]:
    """Frames for each event, and a comment line whenever `keepalive` seconds pass in silence."""
    iterator = events.__aiter__()
    pending: asyncio.Task[StreamEvent] | None = None
    try:
        yield PREAMBLE
        while True:
            if pending is None:
                pending = asyncio.ensure_future(iterator.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=keepalive)
            if not done:
                yield KEEPALIVE
                continue
            try:
                event = pending.result()
            except StopAsyncIteration:
                return
            finally:
                pending = None
            yield format_event(event.id, event.data, named=named)
    finally:
        # The client went away (or the stream ended): stop our reader, never the run itself.
        if pending is not None:
            pending.cancel()
            try:
                await pending
            except (asyncio.CancelledError, StopAsyncIteration, Exception):
                pass
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            try:
                await aclose()
            except Exception:
                pass


def sse_response(frames: AsyncIterator[bytes], *, status: int = 200, headers: dict[str, str] | None = None) -> StreamingHttpResponse:
    """A streaming response with the SSE headers API.md asks for."""
    response = StreamingHttpResponse(frames, content_type="text/event-stream", status=status)
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def sse_stream_response(
    events: AsyncIterator[StreamEvent],
    *,
    named: bool = False,
    keepalive: float | None = None,
    headers: dict[str, str] | None = None,
) -> StreamingHttpResponse:
    """An SSE response that relays a run's events (see `streams.subscribe`)."""
    from django.conf import settings

    interval = settings.SSE_KEEPALIVE_SECONDS if keepalive is None else keepalive
    return sse_response(_with_keepalive(events, named=named, keepalive=interval), headers=headers)
