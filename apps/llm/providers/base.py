"""What every provider adapter speaks: one request shape, one event type, one Protocol.

Adapters translate `ChatRequest` into their vendor's wire format through the vendor's official
SDK and translate the answer back into `LlmEvent`s:

    text-delta       {"content": "Hel"}
    reasoning-delta  {"content": "..."}            (OpenAI-compatible reasoning fields, Anthropic thinking, Gemini thoughts)
    tool-call        {"tool_call_id", "tool_name", "args"}
    finish           {"finish_reason", "usage"}    (usage is None when the provider sent none)

Token convention (all adapters): `completion_tokens` includes `reasoning_tokens`, as in OpenAI's
usage report, so a price per output token applies to both.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol, runtime_checkable

import httpx2

from apps.core.loops import LoopLocal, at_loop_end

EventType = Literal["text-delta", "reasoning-delta", "tool-call", "finish"]


@dataclass(slots=True)
class Usage:
    """Token counts of one call, and its cost in credits once priced."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    source: str = "provider"  # a UsageSource value: "provider" or "estimated"
    cost: Decimal | None = None

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, Any]:
        """The `usage` object of API.md's finish event."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "total_tokens": self.total_tokens,
            "cost": float(self.cost) if self.cost is not None else None,
        }


@dataclass(slots=True)
class LlmEvent:
    """The one event type every adapter yields and `apps.llm.client` hands to other apps."""

    type: EventType
    content: str = ""
    tool_call_id: str | None = None
    tool_name: str | None = None
    args: dict[str, Any] | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    # Set by the client on `finish`: the metering seam for billing.
    usage_record_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The SSE `data:` object of API.md for this event."""
        if self.type in ("text-delta", "reasoning-delta"):
            return {"type": self.type, "content": self.content}
        if self.type == "tool-call":
            return {"type": self.type, "tool_call_id": self.tool_call_id, "tool_name": self.tool_name, "args": self.args or {}}
        data: dict[str, Any] = {"type": "finish", "finish_reason": self.finish_reason, "usage": self.usage.as_dict() if self.usage else None}
        if self.usage_record_id:
            data["usage_record_id"] = self.usage_record_id
        return data


def text_delta(content: str) -> LlmEvent:
    """A piece of the answer."""
    return LlmEvent(type="text-delta", content=content)


def reasoning_delta(content: str) -> LlmEvent:
    """A piece of the model's visible reasoning."""
    return LlmEvent(type="reasoning-delta", content=content)


def tool_call(*, call_id: str, name: str, args: dict[str, Any]) -> LlmEvent:
    """A complete tool call (arguments already assembled from the stream)."""
    return LlmEvent(type="tool-call", tool_call_id=call_id, tool_name=name, args=args)


def finish(*, reason: str | None, usage: Usage | None) -> LlmEvent:
    """The end of the answer."""
    return LlmEvent(type="finish", finish_reason=reason, usage=usage)


@dataclass(slots=True)
class ChatRequest:
    """A provider-neutral chat call. `messages` use OpenAI's roles: system, user, assistant, tool."""

    model: str
    messages: list[dict[str, Any]]
    system_prompt: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    tools: list[dict[str, Any]] | None = None  # OpenAI "function" tool definitions
    # Structured output, OpenAI's shape: {"type": "json_schema", "json_schema": {name, schema, strict}}.
    # Adapters whose vendor has no such parameter ignore it; callers validate the answer either way.
    response_format: dict[str, Any] | None = None
    # The model's own output limit, for vendors that require max_tokens (Anthropic).
    max_output_tokens: int = 4096


@dataclass(slots=True)
class Completion:
    """A whole answer, for callers that do not stream."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[LlmEvent] = field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage | None = None
    usage_record_id: str | None = None


@dataclass(slots=True)
class ImageResult:
    """One generated image (the bytes, not a URL) and what it cost in tokens."""

    data: bytes
    media_type: str = "image/png"
    usage: Usage | None = None
    usage_record_id: str | None = None


@dataclass(slots=True)
class Transcription:
    """The text of one audio file, its language and length (as the provider reports them)."""

    text: str
    language: str = ""
    duration_seconds: float = 0.0
    usage: Usage | None = None
    usage_record_id: str | None = None


@dataclass(slots=True)
class SpeechAudio:
    """Synthesized speech: the audio bytes and their media type."""

    data: bytes
    media_type: str = "audio/wav"
    usage: Usage | None = None
    usage_record_id: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """What an adapter needs to reach its provider (decrypted only in memory)."""

    name: str
    kind: str
    base_url: str
    api_key: str
    timeout: float


@runtime_checkable
class Provider(Protocol):
    """One wire protocol. Adapters raise only the errors of `apps.llm.providers.errors`."""

    settings: ProviderSettings

    def stream(self, request: ChatRequest) -> AsyncIterator[LlmEvent]:
        """Yield events as they arrive; closing the iterator closes the upstream request."""
        ...

    async def complete(self, request: ChatRequest) -> Completion:
        """The whole answer in one call."""
        ...

    async def list_models(self) -> list[str]:
        """The provider's own model names."""
        ...

    async def validate(self) -> None:
        """Raise if the provider cannot be reached or rejects our key."""
        ...


async def complete_from_stream(events: AsyncIterator[LlmEvent]) -> Completion:
    """Collect a stream into a Completion (used where a vendor has no cheaper whole-answer path)."""
    result = Completion()
    text: list[str] = []
    reasoning: list[str] = []
    async for event in events:
        if event.type == "text-delta":
            text.append(event.content)
        elif event.type == "reasoning-delta":
            reasoning.append(event.content)
        elif event.type == "tool-call":
            result.tool_calls.append(event)
        elif event.type == "finish":
            result.finish_reason, result.usage = event.finish_reason, event.usage
    result.text, result.reasoning = "".join(text), "".join(reasoning)
    return result


# SDK clients per loop and settings, taken in turn. httpx's pool walks all its connections each time
# a request starts or ends; with 500 replies streaming from one provider that walk grew with the
# square of the streams. Each client's pool holds a share of them. On aiohttp (sdk_http_client) eight
# still cut the 500-stream gap's p99 from 54 to 21 ms (docs/architecture.md).
CLIENTS_PER_PROVIDER = 8


class _LoopClients:
    """One event loop's SDK clients (each with what closes it), and whose turn is next; all closed when the loop ends."""

    def __init__(self) -> None:
        self.entries: dict[tuple[Any, ...], tuple[Any, Callable[[], Awaitable[Any]]]] = {}
        self.turn = 0
        at_loop_end(self.close)

    async def close(self) -> None:
        entries = list(self.entries.values())
        self.entries.clear()
        # Each is closed even if another fails: the loop is ending, so there is no caller left to tell.
        await asyncio.gather(*(close() for _client, close in entries), return_exceptions=True)


_loop_clients: LoopLocal[_LoopClients] = LoopLocal(_LoopClients)


def client_for_loop(key: tuple[Any, ...], factory: Callable[[], tuple[Any, Callable[[], Awaitable[Any]]]]) -> Any:
    """An SDK client of this event loop for these settings (one of CLIENTS_PER_PROVIDER, in turn), never shared across loops.

    `factory()` gives the client and what closes its connections; a short-lived loop (`async_to_sync`
    in a Celery task) closes them as it ends (`at_loop_end`), so no socket outlives its loop.
    """
    clients = _loop_clients.get()
    clients.turn = (clients.turn + 1) % CLIENTS_PER_PROVIDER
    entry = clients.entries.get((*key, clients.turn))
    if entry is None:
        entry = clients.entries[(*key, clients.turn)] = factory()
    return entry[0]


def sdk_http_client(sdk: Any) -> Any:
    """The HTTP client an `openai` or `anthropic` client sends through: the SDK's own aiohttp transport.

    The SDKs' default (httpx2 on httpcore, h11 and anyio) cost the web process a tenth more CPU per
    gateway call (2.75 against 2.50 ms at 50 in flight) and a fifth more per stream (3.6 against
    3.06 ms; see docs/architecture.md). aiohttp parses HTTP in C. The SDK still does the call (auth, URL,
    timeouts, errors); aiohttp's errors reach `errors.map_provider_error` as the SDK's. The SDK client's
    own timeout (`sdk_timeout`) goes with each request, so this one needs none.
    """
    return sdk.DefaultAioHttpClient()


def sdk_timeout(seconds: float) -> httpx2.Timeout:
    """A provider's timeout for its SDK: the whole call, and at most 10 s of it to connect."""
    return httpx2.Timeout(seconds, connect=min(seconds, 10.0))
