"""Voice HTTP routes: settings, sessions (BOLA, end, idle expiry), one-shot transcription and speech, with their charges."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from apps.billing.selectors import balance_for
from apps.llm.models import UsageRecord
from apps.voice.models import VoiceSession
from apps.voice.services import voice_sessions_expire
from tests.chat.conftest import Caller, make_caller
from tests.llm.conftest import STT_COST_PER_MINUTE, TTS_COST_PER_MILLION, FakeModels

from .conftest import client_for, silent_wav, speech_wav

pytestmark = pytest.mark.django_db(transaction=True)


def _available(caller: Caller) -> Decimal:
    return Decimal(str(balance_for(user=caller.user)["available"]))


def test_config_defaults_update_and_capability_checks(caller: Caller, voice_models: FakeModels) -> None:
    client = client_for(caller)
    got = client.get("/api/v1/voice/config")
    assert got.status_code == 200
    assert got.json() == {"stt_model_id": None, "tts_model_id": None, "chat_model_id": None, "voice": "alloy", "language": "",
                          "system_prompt": ""}
    stt, tts, chat = (str(voice_models.models[k].pk) for k in ("stt", "tts", "openai"))
    body = {"stt_model_id": stt, "tts_model_id": tts, "chat_model_id": chat, "voice": "nova", "language": "en", "system_prompt": "Be brief."}
    put = client.put("/api/v1/voice/config", body, format="json")
    assert put.status_code == 200, put.json()
    assert put.json() == body
    assert client.get("/api/v1/voice/config").json() == body
    wrong = client.put("/api/v1/voice/config", {"stt_model_id": tts}, format="json")
    assert wrong.status_code == 400 and "stt_model_id" in wrong.json()["error"]["details"]
    speech_as_chat = client.put("/api/v1/voice/config", {"chat_model_id": stt}, format="json")
    assert speech_as_chat.status_code == 400 and "chat_model_id" in speech_as_chat.json()["error"]["details"]


def test_sessions_are_the_callers_own_and_end_or_expire(caller: Caller, voice_models: FakeModels) -> None:
    client = client_for(caller)
    created = client.post("/api/v1/voice/sessions", {"config": {"voice": "echo"}}, format="json")
    assert created.status_code == 201, created.json()
    session = created.json()
    assert session["websocket_url"] == f"ws://testserver/ws/voice/{session['id']}"
    assert session["status"] == "active" and session["config"]["voice"] == "echo" and session["conversation_id"]
    assert client.get(f"/api/v1/voice/sessions/{session['id']}").json()["id"] == session["id"]

    other = client_for(make_caller())
    assert other.get(f"/api/v1/voice/sessions/{session['id']}").status_code == 404
    assert other.delete(f"/api/v1/voice/sessions/{session['id']}").status_code == 404
    assert other.post("/api/v1/voice/sessions", {"conversation_id": session["conversation_id"]}, format="json").status_code == 404

    assert client.delete(f"/api/v1/voice/sessions/{session['id']}").status_code == 204
    ended = client.get(f"/api/v1/voice/sessions/{session['id']}").json()
    assert ended["status"] == "ended" and ended["ended_at"]

    idle = client.post("/api/v1/voice/sessions", {}, format="json").json()
    VoiceSession.objects.filter(pk=idle["id"]).update(last_active_at=timezone.now() - timedelta(minutes=31))
    assert client.get(f"/api/v1/voice/sessions/{idle['id']}").json()["status"] == "expired"
    assert voice_sessions_expire() == 1
    assert VoiceSession.objects.get(pk=idle["id"]).status == "expired"


def test_transcription_sniffs_the_content_and_charges_per_minute(caller: Caller, voice_models: FakeModels, fake_llm: Any) -> None:
    client = client_for(caller)
    before = _available(caller)
    audio = speech_wav(3.0)
    fake_llm.transcribe_as(audio, "What is the weather like?")
    # The name and declared type lie; the content is a WAV.
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = client.post("/api/v1/voice/transcriptions", {"file": SimpleUploadedFile("notes.txt", audio, "text/plain")},
                         format="multipart")
    assert upload.status_code == 200, upload.json()
    assert upload.json() == {"text": "What is the weather like?", "language": "english", "duration_seconds": pytest.approx(3.0)}
    expected = (Decimal(3) / 60 * STT_COST_PER_MINUTE).quantize(Decimal("0.000001"))
    assert before - _available(caller) == expected
    assert UsageRecord.objects.get(model_name="fake-stt").cost == expected


def _upload(client: Any, name: str, data: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post("/api/v1/voice/transcriptions", {"file": SimpleUploadedFile(name, data, "audio/wav")}, format="multipart")


def test_transcription_refuses_what_is_not_audio_silence_and_oversize(caller: Caller, voice_models: FakeModels, fake_llm: Any) -> None:
    client = client_for(caller)
    before = _available(caller)
    not_audio = _upload(client, "speech.wav", b"this is a text file pretending to be audio" * 10)
    assert not_audio.status_code == 415 and not_audio.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    silent = _upload(client, "quiet.wav", silent_wav(2.0))
    assert silent.status_code == 400 and silent.json()["error"]["code"] == "VALIDATION_ERROR"
    huge = _upload(client, "long.wav", speech_wav(0.1) + b"\x00" * (25 * 1024 * 1024))
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    missing = client.post("/api/v1/voice/transcriptions", {}, format="multipart")
    assert missing.status_code == 400
    assert _available(caller) == before  # nothing was charged
    assert not [e for e in fake_llm.log if e.path == "/v1/audio/transcriptions"]  # and no provider was called


def test_speech_answers_audio_and_charges_per_character(caller: Caller, voice_models: FakeModels, fake_llm: Any) -> None:
    client = client_for(caller)
    before = _available(caller)
    text = "Good morning, here is your summary."
    spoken = client.post("/api/v1/voice/speech", {"text": text, "format": "wav", "voice": "nova"}, format="json")
    assert spoken.status_code == 200
    assert spoken["Content-Type"] == "audio/wav" and spoken.content[:4] == b"RIFF"
    assert before - _available(caller) == (Decimal(len(text)) * TTS_COST_PER_MILLION / 1_000_000).quantize(Decimal("0.000001"))
    sent = fake_llm.wait_for(lambda e: e.path == "/v1/audio/speech")
    assert sent.body["voice"] == "nova" and sent.body["response_format"] == "wav"
    too_long = client.post("/api/v1/voice/speech", {"text": "x" * 4097}, format="json")
    assert too_long.status_code == 400 and "text" in too_long.json()["error"]["details"]
    assert client.post("/api/v1/voice/speech", {"text": "hi", "format": "flac"}, format="json").status_code == 400


def test_a_key_without_the_voice_scope_is_refused(voice_models: FakeModels) -> None:
    caller = make_caller(scopes=["chat"])
    assert client_for(caller).get("/api/v1/voice/config").status_code == 403
