"""An OpenAI-compatible `POST /v1/embeddings` server on loopback (aiohttp), for the `openai` backend.

Vectors are deterministic: a bag of hashed words, so texts that share words are close in cosine
and the same text always gets the same vector. `dimensions` in the request is honoured; a
server started with `fail=True` answers 503 like a provider that is down.
"""
from __future__ import annotations

import asyncio
import hashlib
import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from apps.core.runtime.embedded import free_port

_WORD = re.compile(r"\w+")


def fake_vector(text: str, dimensions: int) -> list[float]:
    """A unit vector from the hashed words of `text`."""
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()) or ["<empty>"]:
        digest = hashlib.sha256(word.encode()).digest()
        index = int.from_bytes(digest[:4], "little") % dimensions
        vector[index] += 1.0 if digest[4] % 2 == 0 else -1.0
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [value / norm for value in vector]


@dataclass
class EmbeddingsServer:
    """A running fake; `requests` records each request body for assertions."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False
    dimensions: int = 384


async def _handle(request: web.Request, state: EmbeddingsServer) -> web.Response:
    if state.fail:
        return web.json_response({"error": {"message": "overloaded", "type": "server_error"}}, status=503)
    if request.headers.get("Authorization") != "Bearer test-embeddings-key":
        return web.json_response({"error": {"message": "bad key", "type": "invalid_request_error"}}, status=401)
    body = await request.json()
    state.requests.append(body)
    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
    dimensions = int(body.get("dimensions") or state.dimensions)
    data = [{"object": "embedding", "index": i, "embedding": fake_vector(text, dimensions)} for i, text in enumerate(texts)]
    tokens = sum(len(_WORD.findall(text)) for text in texts)
    return web.json_response(
        {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    )


@contextmanager
def embeddings_server(**options: Any) -> Iterator[EmbeddingsServer]:
    """Serve the fake on a free loopback port in a background thread."""
    port = free_port()
    state = EmbeddingsServer(url=f"http://127.0.0.1:{port}/v1", **options)
    loop = asyncio.new_event_loop()
    app = web.Application()
    async def handle(request: web.Request) -> web.Response:
        return await _handle(request, state)

    app.router.add_post("/v1/embeddings", handle)
    runner = web.AppRunner(app)
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield state
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
