"""The shipped model catalogue and the provider connections from the environment (`manage.py seed`).

Prices are the vendors' public list prices per 1M tokens (standard tier, prompts under any long-
context surcharge) converted to credits (1 credit = US$0.01, so $2.50 -> 250 credits). Catalogue
models stay inactive until their provider has a key; admins change or remove any of them, and a
model an admin has edited is never overwritten by a later seed.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction

from .models import LlmModel, ProviderConnection, ProviderKind, ProviderSource
from .selectors import registry_changed

ALL_TIERS: list[str] = []
PAID = ["pro", "enterprise"]

# name, provider, provider_model, input $/1M, output $/1M, context window, max output, capabilities, tiers
CATALOGUE: list[tuple[str, str, str, str, str, int, int, list[str], list[str]]] = [
    ("gpt-5", "openai", "gpt-5", "1.25", "10.00", 400_000, 128_000, ["chat", "streaming", "tools", "vision", "reasoning"], PAID),
    ("gpt-5-mini", "openai", "gpt-5-mini", "0.25", "2.00", 400_000, 128_000, ["chat", "streaming", "tools", "vision", "reasoning"], ALL_TIERS),
    ("gpt-5-nano", "openai", "gpt-5-nano", "0.05", "0.40", 400_000, 128_000, ["chat", "streaming", "tools", "reasoning"], ALL_TIERS),
    ("gpt-4.1", "openai", "gpt-4.1", "2.00", "8.00", 1_047_576, 32_768, ["chat", "streaming", "tools", "vision"], PAID),
    ("gpt-4.1-mini", "openai", "gpt-4.1-mini", "0.40", "1.60", 1_047_576, 32_768, ["chat", "streaming", "tools", "vision"], ALL_TIERS),
    ("gpt-4o", "openai", "gpt-4o", "2.50", "10.00", 128_000, 16_384, ["chat", "streaming", "tools", "vision"], PAID),
    ("gpt-4o-mini", "openai", "gpt-4o-mini", "0.15", "0.60", 128_000, 16_384, ["chat", "streaming", "tools", "vision"], ALL_TIERS),
    ("o3", "openai", "o3", "2.00", "8.00", 200_000, 100_000, ["chat", "streaming", "tools", "reasoning"], PAID),
    ("o4-mini", "openai", "o4-mini", "1.10", "4.40", 200_000, 100_000, ["chat", "streaming", "tools", "reasoning"], PAID),
    ("claude-opus-4-1", "anthropic", "claude-opus-4-1", "15.00", "75.00", 200_000, 32_000, ["chat", "streaming", "tools", "vision", "reasoning"], ["enterprise"]),
    ("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", "3.00", "15.00", 200_000, 64_000, ["chat", "streaming", "tools", "vision", "reasoning"], PAID),
    ("claude-haiku-4-5", "anthropic", "claude-haiku-4-5", "1.00", "5.00", 200_000, 64_000, ["chat", "streaming", "tools", "vision"], ALL_TIERS),
    ("gemini-2.5-pro", "gemini", "gemini-2.5-pro", "1.25", "10.00", 1_048_576, 65_536, ["chat", "streaming", "tools", "vision", "reasoning"], PAID),
    ("gemini-2.5-flash", "gemini", "gemini-2.5-flash", "0.30", "2.50", 1_048_576, 65_536, ["chat", "streaming", "tools", "vision", "reasoning"], ALL_TIERS),
    ("gemini-2.5-flash-lite", "gemini", "gemini-2.5-flash-lite", "0.10", "0.40", 1_048_576, 65_536, ["chat", "streaming", "tools", "vision"], ALL_TIERS),
]

# Speech models (OpenAI's audio API): name, provider, provider_model, capability, price in US$ (per audio minute for
# `stt`, per 1M characters for `tts`), tiers.
SPEECH_CATALOGUE: list[tuple[str, str, str, str, str, list[str]]] = [
    ("whisper-1", "openai", "whisper-1", "stt", "0.006", ALL_TIERS),
    ("gpt-4o-mini-transcribe", "openai", "gpt-4o-mini-transcribe", "stt", "0.003", ALL_TIERS),
    ("tts-1", "openai", "tts-1", "tts", "15.00", ALL_TIERS),
    ("tts-1-hd", "openai", "tts-1-hd", "tts", "30.00", PAID),
]

LOCAL_PROVIDER = "local"
LOCAL_MODEL = "nexus-offline"


def _credits(dollars: str) -> Decimal:
    return Decimal(dollars) * 100


@transaction.atomic
def seed_catalogue() -> dict[str, int]:
    """Create the provider rows and catalogue models that are missing; refresh untouched seeds."""
    providers: dict[str, ProviderConnection] = {}
    for name, kind in (("openai", ProviderKind.OPENAI), ("anthropic", ProviderKind.ANTHROPIC), ("gemini", ProviderKind.GEMINI),
                       (LOCAL_PROVIDER, ProviderKind.LOCAL)):
        provider, _ = ProviderConnection.objects.get_or_create(name=name, defaults={"kind": kind, "source": ProviderSource.SEED})
        providers[name] = provider
    created = 0
    for name, provider_name, provider_model, input_usd, output_usd, context, max_output, capabilities, tiers in CATALOGUE:
        provider = providers[provider_name]
        values: dict[str, Any] = {
            "provider": provider, "provider_model": provider_model, "input_cost": _credits(input_usd), "output_cost": _credits(output_usd),
            "context_window": context, "max_output_tokens": max_output, "capabilities": capabilities, "tiers": tiers,
        }
        model = LlmModel.objects.filter(name=name).first()
        if model is None:
            LlmModel.objects.create(name=name, seeded=True, active=provider.is_usable, **values)
            created += 1
        elif model.seeded:
            LlmModel.objects.filter(pk=model.pk).update(**values)
    for name, provider_name, provider_model, capability, usd, tiers in SPEECH_CATALOGUE:
        provider = providers[provider_name]
        price = _credits(usd)
        values = {
            "provider": provider, "provider_model": provider_model, "capabilities": [capability], "tiers": tiers,
            "input_cost": price if capability == "tts" else Decimal(0), "output_cost": Decimal(0),
            "audio_cost_per_minute": price if capability == "stt" else Decimal(0), "context_window": 8192, "max_output_tokens": 4096,
        }
        model = LlmModel.objects.filter(name=name).first()
        if model is None:
            LlmModel.objects.create(name=name, seeded=True, active=provider.is_usable, **values)
            created += 1
        elif model.seeded:
            LlmModel.objects.filter(pk=model.pk).update(**values)
    if not LlmModel.objects.filter(name=LOCAL_MODEL).exists():
        LlmModel.objects.create(
            name=LOCAL_MODEL, provider=providers[LOCAL_PROVIDER], provider_model=LOCAL_MODEL, input_cost=Decimal(0), output_cost=Decimal(0),
            context_window=32_768, max_output_tokens=1024, capabilities=["chat", "streaming", "offline"], tiers=[], active=True, seeded=True,
        )
        created += 1
    transaction.on_commit(registry_changed)
    return {"models_created": created}


def seed() -> dict[str, Any]:
    """`manage.py seed`: the catalogue, then the providers named in the environment."""
    from .services import providers_sync_from_env

    summary: dict[str, Any] = seed_catalogue()
    summary["providers_from_env"] = providers_sync_from_env()
    return summary
