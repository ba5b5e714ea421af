"""The built-in offline responder: a tiny deterministic "model" so a new install can chat with no key.

It is not a language model. It answers every prompt with a fixed, clearly labelled text that
quotes the last user message, word by word, and reports its own token counts. It exists so that
chat, streaming, stop, metering and the gateway can be tried (and tested) before any provider is
configured; an admin adds a real provider under Admin > Providers.
"""
from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from ..tokens import estimate_prompt_tokens, estimate_tokens, message_text
from .base import ChatRequest, Completion, LlmEvent, ProviderSettings, Usage, complete_from_stream, finish, text_delta

LOCAL_MODELS = ["nexus-offline"]
QUOTE_LIMIT = 200


def local_reply(request: ChatRequest) -> str:
    """The deterministic answer to `request`."""
    last_user = next((message_text(m.get("content")) for m in reversed(request.messages) if m.get("role") == "user"), "")
    quoted = " ".join(last_user.split())[:QUOTE_LIMIT]
    # True whether or not real providers exist (this adapter does not look): it names itself and points elsewhere.
    return (
        f'Nexus offline responder (not an AI model). You said: "{quoted}". '
        "This built-in responder only echoes your message; pick another model for a real answer. "
        "An administrator can add OpenAI, Anthropic, Gemini or a local OpenAI-compatible server under Admin > Providers."
    )


class LocalProvider:
    """Adapter for the offline responder; never opens a socket."""

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings

    async def stream(self, request: ChatRequest) -> AsyncIterator[LlmEvent]:
        """The reply word by word, then usage."""
        every_word = re.findall(r"\S+\s*", local_reply(request))
        words = every_word[: max(1, request.max_tokens)] if request.max_tokens is not None else every_word
        for word in words:
            await asyncio.sleep(0)  # a real scheduling point, so a consumer can stop between words
            yield text_delta(word)
        text = "".join(words)
        usage = Usage(prompt_tokens=estimate_prompt_tokens(request.messages, request.system_prompt), completion_tokens=estimate_tokens(text))
        yield finish(reason="length" if len(words) < len(every_word) else "stop", usage=usage)

    async def complete(self, request: ChatRequest) -> Completion:
        """The whole reply."""
        return await complete_from_stream(self.stream(request))

    async def list_models(self) -> list[str]:
        """The one offline model."""
        return list(LOCAL_MODELS)

    async def validate(self) -> None:
        """Always reachable."""
