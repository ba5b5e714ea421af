"""WS /ws/voice/{id} through a live daphne and the loopback fake provider: spoken turns, interruption, bad audio, refusals."""
from __future__ import annotations

import base64
import json
import time
from decimal import Decimal
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from apps.billing.selectors import balance_for
from apps.chat.models import Message
from apps.llm.models import UsageRecord
from tests.chat.conftest import Caller, make_caller
from tests.llm.conftest import FakeModels

from .conftest import client_for, silent_wav, speech_wav

pytestmark = pytest.mark.live

REPLY = "The sky is blue today. Grass is green in spring. Water is wet."


def _session(caller: Caller, models: FakeModels, **config: Any) -> dict[str, Any]:
    body = {"config": {"chat_model_id": str(models.models["openai"].pk), **config}}
    created = client_for(caller).post("/api/v1/voice/sessions", body, format="json")
    assert created.status_code == 201, created.json()
    return created.json()


def _url(server: Any, session_id: str, caller: Caller | None) -> str:
    url = f"{server.url.replace('http://', 'ws://')}/ws/voice/{session_id}"
    return f"{url}?token={caller.key}" if caller else url


def _recv(socket: ClientConnection) -> dict[str, Any]:
    return json.loads(socket.recv(timeout=30))


def _until(socket: ClientConnection, kind: str) -> list[dict[str, Any]]:
    events = []
    while True:
        event = _recv(socket)
        events.append(event)
        if event["type"] in (kind, "error"):
            return events


def _speak(socket: ClientConnection, audio: bytes, *, binary: bool = True, fmt: str = "wav") -> None:
    socket.send(json.dumps({"type": "audio:start", "data": {"format": fmt}}))
    for index in range(0, len(audio), 4000):
        chunk = audio[index:index + 4000]
        socket.send(chunk if binary else json.dumps({"type": "audio:chunk", "data": base64.b64encode(chunk).decode()}))
    socket.send(json.dumps({"type": "audio:end"}))


def _available(caller: Caller) -> Decimal:
    return Decimal(str(balance_for(user=caller.user)["available"]))


def test_one_spoken_turn_end_to_end(caller: Caller, voice_models: FakeModels, daphne_server: Any, fake_llm: Any) -> None:
    session = _session(caller, voice_models, voice="nova")
    audio = speech_wav(2.0)
    fake_llm.transcribe_as(audio, "Describe the world #slow=0.15")
    fake_llm.script("Describe the world", REPLY)
    before = _available(caller)
    with connect(_url(daphne_server, session["id"], caller), open_timeout=10) as socket:
        assert _recv(socket) == {"type": "connected", "data": {"session_id": session["id"], "conversation_id": session["conversation_id"]}}
        _speak(socket, audio)
        events = _until(socket, "turn:complete")
    types = [event["type"] for event in events]
    assert types[0] == "transcript" and events[0]["data"] == {"text": "Describe the world #slow=0.15"}
    assert types[-1] == "turn:complete", events[-1]
    text = "".join(event["data"]["content"] for event in events if event["type"] == "text-delta")
    assert text == REPLY
    audio_events = [event for event in events if event["type"] == "audio:response"]
    assert [event["seq"] for event in audio_events] == [1, 2, 3]  # one per sentence
    assert all(event["data"]["seq"] == event["seq"] and event["data"]["format"] == "wav" for event in audio_events)
    assert all(base64.b64decode(event["data"]["data"])[:4] == b"RIFF" for event in audio_events)
    # The first sentence was spoken while the rest of the text was still being generated.
    last_text = max(index for index, kind in enumerate(types) if kind == "text-delta")
    assert types.index("audio:response") < last_text
    spoken = [entry.body["input"] for entry in fake_llm.log if entry.path == "/v1/audio/speech"]
    assert spoken == ["The sky is blue today.", "Grass is green in spring.", "Water is wet."]
    assert all(entry.body["voice"] == "nova" for entry in fake_llm.log if entry.path == "/v1/audio/speech")

    complete = events[-1]["data"]
    messages = list(Message.objects.filter(conversation_id=session["conversation_id"]).order_by("created_at"))
    assert [(m.role, m.content, m.status) for m in messages] == [
        ("user", "Describe the world #slow=0.15", "complete"), ("assistant", REPLY, "complete")]
    assert complete["message_id"] == str(messages[1].pk)
    records = list(UsageRecord.objects.filter(user=caller.user))
    assert sorted(r.model_name for r in records) == ["fake-openai", "fake-stt", "fake-tts", "fake-tts", "fake-tts"]
    total = sum((r.cost for r in records), Decimal(0))
    assert total > 0 and Decimal(str(complete["cost"])) == total
    assert before - _available(caller) == total  # charged through the ledger, holds all settled
    assert complete["usage"]["speech_characters"] == len("".join(spoken))
    assert complete["usage"]["completion_tokens"] > 0 and complete["usage"]["audio_seconds"] == pytest.approx(2.0)


def test_a_new_turn_interrupts_the_one_being_spoken(caller: Caller, voice_models: FakeModels, daphne_server: Any,
                                                    fake_llm: Any) -> None:
    session = _session(caller, voice_models)
    long_audio, next_audio = speech_wav(1.0, 440.0), speech_wav(1.0, 660.0)
    fake_llm.transcribe_as(long_audio, "Tell me everything #slow=0.2 #words=200")
    fake_llm.transcribe_as(next_audio, "Stop, just say hello")
    fake_llm.script("just say hello", "Hello.")
    before = _available(caller)
    with connect(_url(daphne_server, session["id"], caller), open_timeout=10) as socket:
        _recv(socket)
        _speak(socket, long_audio)
        first = _until(socket, "text-delta")
        assert first[-1]["type"] == "text-delta", first
        _speak(socket, next_audio, binary=False)  # base64 chunks this time
        events = _until(socket, "turn:complete")
    types = [event["type"] for event in events]
    assert "turn:interrupted" in types and types[-1] == "turn:complete", events
    interrupted = events[types.index("turn:interrupted")]["data"]["message_id"]
    after = events[types.index("turn:interrupted") + 1:]
    assert after[0] == {"type": "transcript", "data": {"text": "Stop, just say hello"}}
    assert "".join(e["data"]["content"] for e in after if e["type"] == "text-delta") == "Hello."
    # The first reply's upstream was closed and it was kept as far as it got.
    fake_llm.wait_for(lambda entry: entry.path == "/v1/chat/completions" and entry.client_closed)
    deadline = time.monotonic() + 10
    while Message.objects.get(pk=interrupted).status == "streaming" and time.monotonic() < deadline:
        time.sleep(0.05)
    cut = Message.objects.get(pk=interrupted)
    assert cut.status == "incomplete" and 0 < len(cut.content.split()) < 200
    stopped = UsageRecord.objects.get(pk=cut.usage_record_id)
    assert stopped.status == "stopped"
    # Charged for what ran (the cut reply's tokens, both transcriptions, the second reply and its speech), nothing more.
    total = sum((r.cost for r in UsageRecord.objects.filter(user=caller.user)), Decimal(0))
    assert before - _available(caller) == total
    assert not [e for e in fake_llm.log if e.path == "/v1/audio/speech" and "w1" in e.body["input"]]


def test_corrupt_or_silent_audio_is_an_error_and_costs_nothing(caller: Caller, voice_models: FakeModels, daphne_server: Any,
                                                                fake_llm: Any) -> None:
    session = _session(caller, voice_models)
    before = _available(caller)
    with connect(_url(daphne_server, session["id"], caller), open_timeout=10) as socket:
        _recv(socket)
        _speak(socket, b"\x00\x01garbage that is not audio" * 50, fmt="webm")
        corrupt = _recv(socket)
        _speak(socket, silent_wav(1.0))
        silent = _recv(socket)
        _speak(socket, b"\x00\x00" * 8000, fmt="pcm16")  # a second of silent raw PCM
        silent_pcm = _recv(socket)
        socket.send(b"audio without audio:start")
        stray = _recv(socket)
    assert corrupt["type"] == "error" and corrupt["data"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert silent["type"] == "error" and silent["data"]["code"] == "VALIDATION_ERROR"
    assert silent_pcm["type"] == "error" and silent_pcm["data"]["code"] == "VALIDATION_ERROR"
    assert stray["type"] == "error"
    assert _available(caller) == before
    assert not Message.objects.filter(conversation_id=session["conversation_id"]).exists()
    assert not [e for e in fake_llm.log if e.path.startswith("/v1/audio")]


def _closed_with(url: str) -> int | None:
    try:
        with connect(url, open_timeout=10) as socket:
            socket.recv(timeout=10)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    return None


def test_someone_elses_unknown_or_ended_session_is_refused(caller: Caller, voice_models: FakeModels, daphne_server: Any) -> None:
    session = _session(caller, voice_models)
    stranger = make_caller()
    assert _closed_with(_url(daphne_server, session["id"], stranger)) == 4404
    assert _closed_with(_url(daphne_server, "0b7e9a54-3c4d-4f3b-9d55-111111111111", caller)) == 4404
    assert _closed_with(_url(daphne_server, "not-a-uuid", caller)) == 4404
    assert _closed_with(_url(daphne_server, session["id"], None)) == 4401
    assert client_for(caller).delete(f"/api/v1/voice/sessions/{session['id']}").status_code == 204
    assert _closed_with(_url(daphne_server, session["id"], caller)) == 4404
