"""The SDK's voice section against a live daphne and the loopback fake provider."""
from __future__ import annotations

from typing import Any

import pytest
from nexus_sdk import NexusClient, NotFound, UnsupportedMediaType

from tests.fakes.llm_server import tone_wav
from tests.llm.conftest import speech_models  # noqa: F401  (fixture)

from .conftest import Caller, make_caller

pytestmark = pytest.mark.live


def test_voice_section(caller: Caller, speech_models: Any, daphne_server: Any, fake_llm: Any) -> None:  # noqa: F811
    with NexusClient(daphne_server.url, caller.key) as client:
        stt = str(speech_models["stt"].pk)
        assert client.voice.config()["stt_model_id"] is None
        assert client.voice.config_update(stt_model_id=stt, voice="nova")["stt_model_id"] == stt
        session = client.voice.sessions_create(config={"language": "en"})
        assert session["websocket_url"].endswith(f"/ws/voice/{session['id']}")
        assert client.voice.session(session["id"])["status"] == "active"
        client.voice.session_end(session["id"])
        assert client.voice.session(session["id"])["status"] == "ended"
        with pytest.raises(NotFound):
            NexusClient(daphne_server.url, make_caller().key).voice.session(session["id"])

        audio = tone_wav(2.0)
        fake_llm.transcribe_as(audio, "Hello from the SDK")
        heard = client.voice.transcribe(file=audio, filename="clip.wav")
        assert heard["text"] == "Hello from the SDK" and heard["duration_seconds"] == pytest.approx(2.0)
        with pytest.raises(UnsupportedMediaType):
            client.voice.transcribe(file=b"not audio at all" * 20, filename="clip.wav")
        spoken = client.voice.speech(text="Hello back.", format="wav")
        assert isinstance(spoken, bytes) and spoken[:4] == b"RIFF"
