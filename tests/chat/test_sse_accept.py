"""Standard SSE clients (EventSource, httpx-sse, the Vercel AI SDK) send `Accept: text/event-stream`."""
from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from .conftest import Caller, SseReader

pytestmark = pytest.mark.live

ACCEPTS = ["text/event-stream", "*/*", "application/json, text/event-stream", None]


def _headers(caller: Caller, accept: str | None) -> dict[str, str]:
    headers = dict(caller.headers)
    if accept is not None:
        headers["Accept"] = accept
    return headers


@pytest.mark.parametrize("accept", ACCEPTS)
def test_chat_and_resume_stream_answer_event_stream_for_every_accept(
    accept: str | None, caller: Caller, daphne_server: Any, fake_llm: Any
) -> None:
    body = {"messages": [{"role": "user", "content": "Hello"}], "model_id": "fake-openai"}
    with httpx.Client(timeout=30) as client:
        with client.stream("POST", f"{daphne_server.url}/api/v1/chat", json=body, headers=_headers(caller, accept)) as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"].startswith("text/event-stream")
            conversation_id = response.headers["x-conversation-id"]
            events = SseReader(response).rest()
        assert events[-1].data["type"] == "finish"
        # The reply is done: the resume stream answers 204 (nothing generating), never 406.
        url = f"{daphne_server.url}/api/v1/conversations/{conversation_id}/stream"
        resumed = client.get(url, headers=_headers(caller, accept))
        assert resumed.status_code == 204


@pytest.mark.parametrize("accept", ACCEPTS)
def test_pre_stream_errors_are_the_json_envelope_whatever_accept_says(
    accept: str | None, caller: Caller, daphne_server: Any, fake_llm: Any
) -> None:
    with httpx.Client(timeout=30) as client:
        missing = client.get(
            f"{daphne_server.url}/api/v1/conversations/{uuid.uuid4()}/stream", headers=_headers(caller, accept)
        )
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/json")
        assert missing.json()["error"]["code"] == "NOT_FOUND"

        empty = client.post(
            f"{daphne_server.url}/api/v1/chat",
            json={"messages": [], "model_id": "fake-openai"},
            headers=_headers(caller, accept),
        )
        assert empty.status_code == 400
        assert empty.json()["error"]["code"] == "VALIDATION_ERROR"

        compare = client.post(
            f"{daphne_server.url}/api/v1/compare?stream=true",
            json={"prompt": "Hi", "model1_id": "fake-openai", "model2_id": "fake-anthropic"},
            headers=_headers(caller, accept),
        )
        assert compare.status_code == 200, compare.text
        assert compare.headers["content-type"].startswith("text/event-stream")
        assert '"model":' in compare.text and '"finish"' in compare.text
