"""Provider adapters, one per wire protocol, all behind `base.Provider`.

Adapters are imported on first use: the vendor SDKs take seconds to import, and every process
(each `manage.py` command, web, worker, beat) would otherwise pay for all of them at start.
"""
from __future__ import annotations

from importlib import import_module

from .base import Provider, ProviderSettings

ADAPTERS: dict[str, str] = {
    "openai": "apps.llm.providers.openai.OpenAIProvider",
    "anthropic": "apps.llm.providers.anthropic.AnthropicProvider",
    "gemini": "apps.llm.providers.gemini.GeminiProvider",
    "local": "apps.llm.providers.local.LocalProvider",
}
_classes: dict[str, type] = {}


def adapter_class(kind: str) -> type:
    """The adapter class for a provider kind (imported once)."""
    cls = _classes.get(kind)
    if cls is None:
        module_name, _, class_name = ADAPTERS[kind].rpartition(".")
        cls = getattr(import_module(module_name), class_name)
        _classes[kind] = cls
    return cls


def provider_for(settings: ProviderSettings) -> Provider:
    """The adapter for a provider connection's kind."""
    return adapter_class(settings.kind)(settings)  # type: ignore[no-any-return]


__all__ = ["ADAPTERS", "Provider", "ProviderSettings", "adapter_class", "provider_for"]
