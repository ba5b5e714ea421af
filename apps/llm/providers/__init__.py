"""Provider adapters, one per wire protocol, all behind `base.Provider`.

Adapters are imported on first use: the vendor SDKs take seconds to import, and every `manage.py`
command would otherwise pay for all of them. Servers (daphne, Celery workers) call
`preload_adapters()` at start, because an import inside a running event loop blocks every other
request on that loop for as long as it takes.
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


def preload_adapters() -> None:
    """Import every adapter now: servers call this at start, so no event loop ever blocks on an import."""
    for kind in ADAPTERS:
        adapter_class(kind)


def provider_for(settings: ProviderSettings) -> Provider:
    """The adapter for a provider connection's kind."""
    return adapter_class(settings.kind)(settings)


__all__ = ["ADAPTERS", "Provider", "ProviderSettings", "adapter_class", "preload_adapters", "provider_for"]
