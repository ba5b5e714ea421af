"""Redis going away and coming back under a live server: 503 SERVICE_UNAVAILABLE (never a 500 or a hang), then recovery."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from apps.core.runtime.embedded import EmbeddedRedis, free_port
from tests.chat.conftest import Caller, SseReader
from tests.conftest import start_daphne, stop_process

pytestmark = pytest.mark.live

CHAT = {"messages": [{"role": "user", "content": "hello there"}], "model_id": "fake-openai"}
SSE = {"Accept": "text/event-stream"}


def _chat(url: str, caller: Caller) -> tuple[int, dict[str, Any] | list[Any]]:
    with httpx.Client(timeout=20) as client, client.stream("POST", f"{url}/api/v1/chat", json=CHAT,
                                                            headers={**caller.headers, **SSE}) as response:
        if response.status_code != 200:
            response.read()
            return response.status_code, response.json()
        reader = SseReader(response)
        while reader.next() is not None:
            pass
        return 200, [event.data for event in reader.events]


def test_redis_down_answers_503_and_the_api_recovers_when_it_is_back(caller: Caller, fake_llm: Any, tmp_path: Path) -> None:
    redis = EmbeddedRedis(tmp_path / "redis", free_port(), persistent=False)
    server = start_daphne(tmp_path, REDIS_URL=redis.start())
    try:
        status, events = _chat(server.url, caller)
        assert status == 200 and events[-1]["type"] == "finish", events

        redis.stop()
        started = time.monotonic()
        status, body = _chat(server.url, caller)
        assert time.monotonic() - started < 10  # an answer, not a hang
        assert status == 503, body
        assert body["error"]["code"] == "SERVICE_UNAVAILABLE" and body["error"]["details"]["service"] == ["redis"]
        conversations = httpx.get(f"{server.url}/api/v1/conversations", headers=caller.headers, timeout=10)
        assert conversations.status_code == 200  # what needs only PostgreSQL goes on working

        redis.start()
        back = time.monotonic()
        while True:
            status, events = _chat(server.url, caller)
            if status == 200:
                break
            assert time.monotonic() - back < 5, "not recovered within 5 s of Redis being back"
            time.sleep(0.2)
        assert events[-1]["type"] == "finish", (events, server.log())
    finally:
        stop_process(server.process)
        redis.stop()


def test_a_stream_in_flight_ends_with_a_resumable_error_when_redis_goes_away(caller: Caller, fake_llm: Any, tmp_path: Path) -> None:
    redis = EmbeddedRedis(tmp_path / "redis", free_port(), persistent=False)
    server = start_daphne(tmp_path, REDIS_URL=redis.start())
    slow = {"messages": [{"role": "user", "content": "a long one #words=200 #slow=0.05"}], "model_id": "fake-openai"}
    try:
        with httpx.Client(timeout=20) as client, client.stream("POST", f"{server.url}/api/v1/chat", json=slow,
                                                                headers={**caller.headers, **SSE}) as response:
            assert response.status_code == 200
            reader = SseReader(response)
            first = reader.next()
            assert first is not None and first.data["type"] == "text-delta"
            redis.stop()
            started = time.monotonic()
            while reader.next() is not None:
                pass
            assert time.monotonic() - started < 10  # it ends; it does not wait for Redis
        last = reader.events[-1]
        assert last.data["type"] == "error" and last.data["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert "Last-Event-ID" in last.data["error"]["message"]
    finally:
        stop_process(server.process)
        redis.stop()
