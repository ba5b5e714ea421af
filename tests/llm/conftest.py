"""Fixtures of the llm tests: the loopback fake provider, provider connections and models on it."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import redis
from django.conf import settings

from apps.llm import services
from apps.llm.models import LlmModel, ProviderConnection
from apps.llm.selectors import registry
from tests.fakes.llm_server import FakeLlmServer

FAKE_KEY = "fake-provider-secret-3f9a1c"
KINDS = ("openai", "anthropic", "gemini")


@pytest.fixture(scope="session")
def fake_llm_server() -> Iterator[FakeLlmServer]:
    """One fake provider for the session (OpenAI, Anthropic and Gemini wire formats)."""
    server = FakeLlmServer(api_key=FAKE_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def fake_llm(fake_llm_server: FakeLlmServer) -> FakeLlmServer:
    """The fake with an empty request log."""
    fake_llm_server.clear()
    return fake_llm_server


@pytest.fixture(autouse=True)
def fresh_llm_state() -> Iterator[None]:
    """Each test starts with a fresh model registry snapshot and empty rate-limit counters and slots."""
    client = redis.Redis.from_url(settings.REDIS_URL)

    def wipe() -> None:
        for pattern in ("*rl:*", "nexus:slots:*", "nexus:quota:*", "*health:providers*"):
            for key in client.scan_iter(pattern, count=1000):
                client.delete(key)

    registry.forget()
    wipe()
    yield
    registry.forget()
    wipe()
    client.close()


def base_url_for(kind: str, server: FakeLlmServer) -> str:
    """Where each SDK expects the provider (the OpenAI SDK wants the /v1 prefix in base_url)."""
    return server.url + "/v1" if kind == "openai" else server.url


@dataclass
class FakeModels:
    """Provider connections and models that point at the fake."""

    providers: dict[str, ProviderConnection]
    models: dict[str, LlmModel]


def make_fake_models(server: FakeLlmServer, *, timeout: float = 5.0, tiers: list[str] | None = None) -> FakeModels:
    """One provider per wire format on the fake, and a model `fake-<kind>` on each (costs 100/400 credits per 1M)."""
    providers: dict[str, ProviderConnection] = {}
    models: dict[str, LlmModel] = {}
    for kind in KINDS:
        provider = services.provider_create(name=f"fake-{kind}", kind=kind, base_url=base_url_for(kind, server), api_key=FAKE_KEY,
                                            timeout_seconds=timeout)
        providers[kind] = provider
        models[kind] = services.model_create(
            name=f"fake-{kind}", provider=provider, provider_model="fake-model", capabilities=["chat", "streaming", "tools"],
            input_cost=Decimal("100"), output_cost=Decimal("400"), context_window=2000, max_output_tokens=500, tiers=tiers or [],
        )
    registry.forget()
    return FakeModels(providers=providers, models=models)


@pytest.fixture
def committed_db(transactional_db: Any) -> None:
    """A committed database with the accounts tiers and roles (a transactional test flushes what migrations seeded)."""
    from apps.accounts.seeds import seed

    seed()


@pytest.fixture
def fake_models(committed_db: None, fake_llm: FakeLlmServer) -> FakeModels:
    """Committed providers and models on the fake (the client meters from worker threads, which need committed rows)."""
    return make_fake_models(fake_llm)


STT_COST_PER_MINUTE = Decimal("60")  # one credit per second of audio
TTS_COST_PER_MILLION = Decimal("10000")  # 0.01 credit per character


def make_fake_speech_models(fake: FakeModels) -> dict[str, LlmModel]:
    """`fake-stt` and `fake-tts` on the fake's OpenAI-compatible provider (added to `fake.models`)."""
    provider = fake.providers["openai"]
    stt = services.model_create(name="fake-stt", provider=provider, provider_model="fake-whisper", capabilities=["stt"],
                                audio_cost_per_minute=STT_COST_PER_MINUTE)
    tts = services.model_create(name="fake-tts", provider=provider, provider_model="fake-speech", capabilities=["tts"],
                                input_cost=TTS_COST_PER_MILLION)
    registry.forget()
    fake.models.update({"stt": stt, "tts": tts})
    return {"stt": stt, "tts": tts}


@pytest.fixture
def speech_models(fake_models: FakeModels) -> dict[str, LlmModel]:
    """Committed speech models on the fake, beside the chat models."""
    return make_fake_speech_models(fake_models)
