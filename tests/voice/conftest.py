"""Voice fixtures: the fake provider with chat and speech models, callers with keys, audio samples."""
from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.chat.conftest import Caller, make_caller
from tests.fakes.llm_server import tone_wav
from tests.llm.conftest import (  # noqa: F401  (fixtures re-exported for the voice tests)
    FakeModels,
    committed_db,
    fake_llm,
    fake_llm_server,
    fake_models,
    fresh_llm_state,
    speech_models,
)


@pytest.fixture
def voice_models(fake_models: FakeModels, speech_models: Any) -> FakeModels:  # noqa: F811
    """Chat models and `fake-stt`/`fake-tts`, committed."""
    return fake_models


@pytest.fixture
def caller(voice_models: FakeModels) -> Caller:
    """A committed user with the default role and a full-access key."""
    return make_caller()


def client_for(caller: Caller) -> APIClient:
    """A DRF test client sending the caller's key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {caller.key}")
    return client


def speech_wav(seconds: float = 1.0, frequency: float = 440.0) -> bytes:
    """A WAV with a tone in it (the fake hears words in any audio that is not silent)."""
    return tone_wav(seconds, frequency)


def silent_wav(seconds: float = 1.0) -> bytes:
    """A WAV of silence."""
    import struct

    count = int(8000 * seconds)
    data = b"\x00\x00" * count
    return b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + \
        b"data" + struct.pack("<I", len(data)) + data
