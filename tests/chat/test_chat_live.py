"""The chat stream through a real daphne server and the loopback fake provider."""
from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import httpx
import pytest

from apps.accounts.models import Tier
from apps.chat.models import Conversation, Message
from apps.llm.models import UsageRecord
from tests.fakes.llm_server import DEFAULT_REPLY

from .conftest import Caller, SseReader, make_caller

pytestmark = pytest.mark.live


def _chat(client: httpx.Client, server: Any, caller: Caller, content: str, model: str = "fake-openai", **extra: Any) -> Any:
    body = {"messages": [{"role": "user", "content": content}], "model_id": model, **extra}
    return client.stream("POST", f"{server.url}/api/v1/chat", json=body, headers=caller.headers)


def _wait(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize("model", ["fake-openai", "fake-anthropic", "fake-gemini"])
def test_full_event_sequence_and_both_messages_stored(model: str, caller: Caller, daphne_server: Any, fake_llm: Any) -> None:
    with httpx.Client(timeout=30) as client, _chat(client, daphne_server, caller, "Hello #reasoning", model=model) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        conversation_id = response.headers["x-conversation-id"]
        events = SseReader(response).rest()
    types = [event.data["type"] for event in events]
    assert types[0] == "reasoning-delta"
    assert "text-delta" in types and types[-1] == "finish"
    assert types.index("text-delta") > types.index("reasoning-delta")
    assert all(event.id is not None for event in events)
    assert [int(event.id) for event in events] == sorted(int(event.id) for event in events)
    text = "".join(event.data["content"] for event in events if event.data["type"] == "text-delta")
    assert text == DEFAULT_REPLY
    usage = events[-1].data["usage"]
    assert usage["completion_tokens"] > 0 and usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["cost"] > 0

    conversation = Conversation.objects.get(pk=conversation_id)
    messages = list(conversation.messages.order_by("created_at"))
    assert [(m.role, m.status) for m in messages] == [("user", "complete"), ("assistant", "complete")]
    assert messages[0].content == "Hello #reasoning"
    assert messages[1].content == DEFAULT_REPLY and messages[1].reasoning
    assert messages[1].token_usage["completion_tokens"] == usage["completion_tokens"]
    assert conversation.message_count == 2
    record = UsageRecord.objects.get(pk=messages[1].usage_record_id)
    assert record.status == "completed" and record.origin == "chat"
    # A second turn in the same conversation is counted on it.
    with httpx.Client(timeout=30) as client, _chat(client, daphne_server, caller, "And again", model=model,
                                                   conversation_id=conversation_id) as response:
        assert response.status_code == 200 and response.headers["x-conversation-id"] == conversation_id
        assert SseReader(response).rest()[-1].data["type"] == "finish"
    conversation.refresh_from_db()
    assert conversation.message_count == 4 and conversation.messages.count() == 4 and conversation.model_name == model
    # The title comes in the background (eager Celery in the web process is off: it went to the broker).


def test_disconnect_then_reattach_gets_the_rest(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:
    with httpx.Client(timeout=30) as client:
        with _chat(client, daphne_server, caller, "Tell me #words=40 #slow=0.05") as response:
            conversation_id = response.headers["x-conversation-id"]
            first = SseReader(response).until(lambda e: e.data["type"] == "text-delta" and int(e.id) >= 5)
        # The client is gone; the reply goes on.
        last_id = first[-1].id
        time.sleep(0.3)
        url = f"{daphne_server.url}/api/v1/conversations/{conversation_id}/stream"
        with client.stream("GET", url, headers={**caller.headers, "Last-Event-ID": last_id}) as response:
            assert response.status_code == 200
            rest = SseReader(response).rest()
    assert int(rest[0].id) == int(last_id) + 1
    assert rest[-1].data["type"] == "finish"
    words = [e.data["content"] for e in first + rest if e.data["type"] == "text-delta"]
    assert "".join(words).split() == [f"w{i}" for i in range(40)]
    reply = Message.objects.get(conversation_id=conversation_id, role="assistant")
    assert reply.status == "complete" and reply.content.split() == [f"w{i}" for i in range(40)]
    # Nothing is generating any more: re-attach answers 204.
    assert httpx.get(url, headers=caller.headers).status_code == 204


def test_stop_closes_the_upstream_and_keeps_the_partial_reply(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:
    with httpx.Client(timeout=30) as client:
        with _chat(client, daphne_server, caller, "Go #words=400 #slow=0.05") as response:
            conversation_id = response.headers["x-conversation-id"]
            reader = SseReader(response)
            reader.until(lambda e: e.data["type"] == "text-delta" and int(e.id) >= 5)
            stopped_at = time.monotonic()
            answer = client.post(f"{daphne_server.url}/api/v1/conversations/{conversation_id}/stop", headers=caller.headers)
            assert answer.status_code == 202
            rest = reader.rest()
    assert rest[-1].data["type"] == "finish" and rest[-1].data["status"] == "incomplete"
    entry = _wait(lambda: next((e for e in fake_llm.log if e.client_closed), None))
    assert entry.ended_at - (entry.started_at + (stopped_at - entry.started_at)) < 1.5
    reply = _wait(lambda: Message.objects.filter(conversation_id=conversation_id, role="assistant", status="incomplete").first())
    produced = len(reply.content.split())
    assert 5 <= produced < 400
    assert reply.token_usage["completion_tokens"] >= produced - 1
    assert reply.token_usage["cost"] > 0
    record = UsageRecord.objects.get(pk=reply.usage_record_id)
    assert record.status == "stopped"


def test_provider_failure_mid_stream_is_an_error_event_and_a_failed_reply(caller: Caller, daphne_server: Any) -> None:
    with httpx.Client(timeout=30) as client, _chat(client, daphne_server, caller, "Hi #early-close-after=3") as response:
        assert response.status_code == 200
        conversation_id = response.headers["x-conversation-id"]
        events = SseReader(response).rest()
    assert events[-1].data["type"] == "error"
    assert events[-1].data["error"]["code"] == "MODEL_UNAVAILABLE"
    reply = Message.objects.get(conversation_id=conversation_id, role="assistant")
    assert reply.status == "failed" and reply.content  # the partial reply is kept
    assert UsageRecord.objects.filter(status="failed", user=caller.user).exists()


def test_two_concurrent_streams_against_a_limit_of_one(fake_models: Any, daphne_server: Any) -> None:
    Tier.objects.filter(slug="free").update(chat_concurrent=1)
    caller = make_caller()
    with httpx.Client(timeout=30) as client, _chat(client, daphne_server, caller, "Long #words=200 #slow=0.05") as first:
        assert first.status_code == 200
        SseReader(first).next()
        second = client.post(f"{daphne_server.url}/api/v1/chat", headers=caller.headers,
                             json={"messages": [{"role": "user", "content": "again"}], "model_id": "fake-openai"})
        assert second.status_code == 429
        assert second.json()["error"]["code"] == "RATE_LIMITED"
        assert int(second.headers["Retry-After"]) >= 1
    # Another user is not affected by the first one's slot.
    other = make_caller()
    answer = httpx.post(f"{daphne_server.url}/api/v1/chat", headers=other.headers, timeout=30,
                        json={"messages": [{"role": "user", "content": "hi"}], "model_id": "fake-openai"})
    assert answer.status_code == 200


def test_compare_streams_both_models_tagged(caller: Caller, daphne_server: Any) -> None:
    body = {"prompt": "Hello #words=12", "model1_id": "fake-openai", "model2_id": "fake-anthropic"}
    with httpx.Client(timeout=30) as client:
        with client.stream("POST", f"{daphne_server.url}/api/v1/compare?stream=true", json=body, headers=caller.headers) as response:
            assert response.status_code == 200
            events = SseReader(response).rest()
        done = events[-1].data
        assert done["type"] == "done"
        for number in (1, 2):
            mine = [e.data for e in events if e.data.get("model") == number]
            assert "".join(d["content"] for d in mine if d["type"] == "text-delta").split() == [f"w{i}" for i in range(12)]
            finish = next(d for d in mine if d["type"] == "finish")
            assert finish["usage"]["completion_tokens"] > 0 and finish["duration_ms"] >= 0 and finish["cost"] > 0
        listed = client.get(f"{daphne_server.url}/api/v1/comparisons", headers=caller.headers).json()
        assert listed["count"] == 1 and listed["results"][0]["comparison_id"] == done["comparison_id"]
        assert listed["results"][0]["model1"]["response"].split() == [f"w{i}" for i in range(12)]

        plain = client.post(f"{daphne_server.url}/api/v1/compare", json=body, headers=caller.headers)
        assert plain.status_code == 200
        result = plain.json()
        assert result["model1"]["usage"]["completion_tokens"] > 0 and result["model2"]["cost"] > 0
        for side in ("model1", "model2"):  # API.md: `tokens` is the total, a number
            assert isinstance(result[side]["tokens"], int)
            assert result[side]["tokens"] == result[side]["usage"]["total_tokens"] > 0


def test_concurrent_readers_of_one_reply_see_the_same_events(caller: Caller, daphne_server: Any) -> None:
    with httpx.Client(timeout=30) as client, _chat(client, daphne_server, caller, "#words=30 #slow=0.03") as response:
        conversation_id = response.headers["x-conversation-id"]
        seen: list[list[str]] = []

        def watch() -> None:
            with httpx.stream("GET", f"{daphne_server.url}/api/v1/conversations/{conversation_id}/stream",
                              headers=caller.headers, timeout=30) as again:
                seen.append([e.id for e in SseReader(again).rest()])

        watcher = threading.Thread(target=watch)
        watcher.start()
        main = [e.id for e in SseReader(response).rest()]
        watcher.join(30)
    assert seen and seen[0] == main


def test_unknown_model_and_empty_messages_fail_before_streaming(caller: Caller, daphne_server: Any) -> None:
    url = f"{daphne_server.url}/api/v1/chat"
    cases = [
        ({"messages": [], "model_id": "fake-openai"}, 400),
        ({"messages": [{"role": "wizard", "content": "hi"}], "model_id": "fake-openai"}, 400),
        ({"messages": [{"role": "user", "content": "hi"}], "model_id": "no-such-model"}, 404),
        ({"messages": [{"role": "user", "content": "hi"}], "model_id": "fake-openai", "conversation_id": str(uuid.uuid4())}, 404),
        ({"messages": [{"role": "user", "content": "x" * 100_001}], "model_id": "fake-openai"}, 413),
        ({"messages": [{"role": "user", "content": "hi"}], "model_id": "fake-openai", "temperature": 9}, 400),
    ]
    for body, status in cases:
        answer = httpx.post(url, json=body, headers=caller.headers, timeout=30)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["error"]["request_id"] == answer.headers["x-request-id"]
    assert not Message.objects.filter(conversation__owner=caller.user).exists()


def _knowledge_repository(owner: Any) -> Any:
    from apps.knowledge import embeddings
    from apps.knowledge import services as knowledge
    from apps.knowledge.models import Chunk, Document

    repository = knowledge.repository_create(user=owner, name="handbook")
    document = Document.objects.create(repository=repository, filename="handbook.txt", content_type="text/plain", size=1,
                                       file_key="k", status="ready")
    texts = ["Employees get 25 days of paid vacation per year.", "The office closes at 7 pm on Fridays."]
    for position, (text, vector) in enumerate(zip(texts, embeddings.embed(texts), strict=True)):
        Chunk.objects.create(document=document, repository=repository, position=position, content=text, embedding=vector,
                             embedding_model=embeddings.model_name(), metadata={"page": None, "heading": None})
    return repository


def test_rag_chat_emits_sources_before_the_text_and_puts_passages_in_context(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:
    repository = _knowledge_repository(caller.user)
    with httpx.Client(timeout=30) as client, _chat(client, daphne_server, caller, "How many vacation days do I get?",
                                                   repository_ids=[str(repository.pk)]) as response:
        assert response.status_code == 200, response.read()
        conversation_id = response.headers["x-conversation-id"]
        events = SseReader(response).rest()
    assert events[0].data["type"] == "sources"
    sources = events[0].data["sources"]
    assert sources and {"document_id", "chunk_id", "score"} <= set(sources[0])
    assert events[-1].data["type"] == "finish"
    # The provider saw the cited passage in its context.
    sent = fake_llm.log[-1].body
    assert "25 days of paid vacation" in json.dumps(sent) and "[1]" in json.dumps(sent)
    reply = Message.objects.get(conversation_id=conversation_id, role="assistant")
    assert reply.sources[0]["chunk_id"] == sources[0]["chunk_id"]


def test_rag_chat_with_another_users_repository_is_404(caller: Caller, daphne_server: Any) -> None:
    stranger = make_caller()
    repository = _knowledge_repository(stranger.user)
    answer = httpx.post(f"{daphne_server.url}/api/v1/chat", headers=caller.headers, timeout=30,
                        json={"messages": [{"role": "user", "content": "vacation?"}], "model_id": "fake-openai",
                              "repository_ids": [str(repository.pk)]})
    assert answer.status_code == 404
    assert "handbook" not in answer.text
