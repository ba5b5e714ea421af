"""Provider adapters, one per wire protocol, all behind `base.Provider`."""
from __future__ import annotations

from .anthropic import AnthropicProvider
from .base import Provider, ProviderSettings
from .gemini import GeminiProvider
from .local import LocalProvider
from .openai import OpenAIProvider

ADAPTERS: dict[str, type] = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
    "local": LocalProvider,
}


def provider_for(settings: ProviderSettings) -> Provider:
    """The adapter for a provider connection's kind."""
    return ADAPTERS[settings.kind](settings)  # type: ignore[no-any-return]
