"""The only entry point other apps use to call a model: checks, the adapter call, metering.

    async for event in stream_chat(user=user, model=model_id, messages=[{"role": "user", "content": "Hi"}]):
        ...  # LlmEvent: text-delta, reasoning-delta, tool-call, finish (usage, cost, usage_record_id)

    completion = complete_chat_sync(user=user, model="gpt-4o-mini", messages=[...])   # Celery tasks

Every call writes exactly one UsageRecord, however it ends: `completed`, `stopped` (the consumer
closed or cancelled the generator) or `failed`. Tokens come from the provider's usage report;
only when it sent none (or the stream was stopped) are they counted locally. The upstream request
is closed as soon as the consumer stops. Checks run before any provider call: unknown or inactive
model 404, model outside the tier 403, invalid input 400, prompt over the context window 400.

Billing seam: `finish` carries `usage.cost` (credits) and `usage_record_id`; `chat_prepare`
returns `estimated_prompt_tokens` and the model's prices, so a credit hold can be taken first.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from asgiref.sync import async_to_sync

from apps.core.db import db_sync_to_async
from apps.core.errors import ApplicationError
from apps.core.request_context import get_request_id
from apps.core.runs import shielded
from apps.core.writebehind import Row, write_behind, write_behind_flush

from .errors import ChatInputInvalid, ContextWindowExceeded
from .models import UsageSource, UsageStatus
from .providers import provider_for
from .providers.base import ChatRequest, Completion, ImageResult, LlmEvent, SpeechAudio, Transcription, Usage
from .selectors import ModelEntry, model_resolve_for_user
from .services import usage_cost, usage_record_create, usage_records_create
from .tokens import estimate_prompt_tokens, estimate_tokens

if TYPE_CHECKING:
    from apps.accounts.models import User

logger = logging.getLogger("nexus.llm")

T = TypeVar("T")

ROLES = ("system", "user", "assistant", "tool")
MAX_MESSAGES = 1000


@dataclass(slots=True)
class PreparedChat:
    """A checked call, ready to send: the model, the provider-neutral request, who pays."""

    model: ModelEntry
    request: ChatRequest
    user_id: Any
    api_key_id: Any
    workspace_id: Any
    request_id: str
    origin: str
    estimated_prompt_tokens: int


def _field_error(field: str, message: str) -> ChatInputInvalid:
    return ChatInputInvalid(f"Invalid input: {message}", details={field: [message]})


def validate_messages(messages: Any) -> list[dict[str, Any]]:
    """Messages as clean OpenAI-style dicts; anything malformed answers 400 naming the field."""
    if not isinstance(messages, list) or not messages:
        raise _field_error("messages", "Must be a non-empty list of {role, content} objects.")
    if len(messages) > MAX_MESSAGES:
        raise _field_error("messages", f"At most {MAX_MESSAGES} messages.")
    clean: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        field = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _field_error(field, "Must be an object with `role` and `content`.")
        role = message.get("role")
        if role not in ROLES:
            raise _field_error(f"{field}.role", f"Must be one of {', '.join(ROLES)}.")
        content = message.get("content")
        out: dict[str, Any] = {"role": role}
        if isinstance(content, list):
            parts = []
            for part in content:
                if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                    raise _field_error(f"{field}.content", "Only text parts ({type: 'text', text}) are supported.")
                parts.append(part["text"])
            content = "".join(parts)
        if content is None and role == "assistant" and message.get("tool_calls"):
            content = ""
        if not isinstance(content, str):
            raise _field_error(f"{field}.content", "Must be a string.")
        out["content"] = content
        if role == "assistant" and message.get("tool_calls"):
            calls = message["tool_calls"]
            if not isinstance(calls, list) or not all(isinstance(c, dict) and isinstance(c.get("function"), dict) for c in calls):
                raise _field_error(f"{field}.tool_calls", "Must be a list of {id, type: 'function', function: {name, arguments}}.")
            out["tool_calls"] = [
                {"id": str(c.get("id", "")), "type": "function",
                 "function": {"name": str(c["function"].get("name", "")), "arguments": str(c["function"].get("arguments", "") or "")}}
                for c in calls
            ]
        if role == "tool":
            if not isinstance(message.get("tool_call_id"), str):
                raise _field_error(f"{field}.tool_call_id", "A tool message needs the `tool_call_id` it answers.")
            out["tool_call_id"] = message["tool_call_id"]
        if isinstance(message.get("name"), str):
            out["name"] = message["name"][:64]
        clean.append(out)
    return clean


def validate_tools(tools: Any) -> list[dict[str, Any]] | None:
    """OpenAI function tools, reduced to the fields every adapter understands."""
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise _field_error("tools", "Must be a list of function tools.")
    clean = []
    for index, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type", "function") != "function" or not isinstance(function, dict):
            raise _field_error(f"tools[{index}]", "Must be {type: 'function', function: {name, description?, parameters?}}.")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise _field_error(f"tools[{index}].function.name", "Required.")
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise _field_error(f"tools[{index}].function.parameters", "Must be a JSON Schema object.")
        entry: dict[str, Any] = {"name": name, "description": str(function.get("description", ""))}
        if parameters is not None:
            entry["parameters"] = parameters
        clean.append({"type": "function", "function": entry})
    return clean or None


def chat_prepare(*, user: User, model: Any, messages: Any, system_prompt: str | None = None, temperature: Any = None,
                 max_tokens: Any = None, tools: Any = None, api_key: Any = None, request_id: str | None = None,
                 workspace: Any = None, origin: str = "chat", response_format: dict[str, Any] | None = None) -> PreparedChat:
    """Every check that must pass before a provider is called (sync: it reads the registry and tier).

    `response_format` asks for structured output (OpenAI's shape; sent where the vendor supports it).
    """
    entry = model_resolve_for_user(user=user, model=model)
    if entry.capabilities and set(entry.capabilities) <= set(SPEECH_CAPABILITIES):
        raise _field_error("model", f"The model '{entry.name}' is a speech model; it cannot chat.")
    clean_messages = validate_messages(messages)
    if system_prompt is not None and not isinstance(system_prompt, str):
        raise _field_error("system_prompt", "Must be a string.")
    if temperature is not None:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
            raise _field_error("temperature", "Must be a number between 0 and 2.")
        temperature = float(temperature)
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise _field_error("max_tokens", "Must be a positive integer.")
        if max_tokens > entry.max_output_tokens:
            raise _field_error("max_tokens", f"At most {entry.max_output_tokens} for the model '{entry.name}'.")
    clean_tools = validate_tools(tools)
    prompt_tokens = estimate_prompt_tokens(clean_messages, system_prompt, clean_tools)
    if prompt_tokens + (max_tokens or 0) > entry.context_window:
        raise ContextWindowExceeded(
            f"The request is larger than the context window of '{entry.name}': about {prompt_tokens + (max_tokens or 0)} tokens "
            f"for a window of {entry.context_window}.",
            details={"messages": [f"About {prompt_tokens} prompt tokens (+ max_tokens {max_tokens or 0}) exceed the context window of {entry.context_window}."]},
        )
    request = ChatRequest(model=entry.provider_model, messages=clean_messages, system_prompt=system_prompt or None,
                          temperature=temperature, max_tokens=max_tokens, tools=clean_tools, max_output_tokens=entry.max_output_tokens,
                          response_format=response_format)
    return PreparedChat(
        model=entry, request=request, user_id=getattr(user, "pk", None), api_key_id=getattr(api_key, "pk", api_key),
        workspace_id=getattr(workspace, "pk", workspace), request_id=request_id or get_request_id() or uuid.uuid4().hex,
        origin=origin, estimated_prompt_tokens=prompt_tokens,
    )


# Runs outside the single thread Django uses for sync code under ASGI, so that the checks and the
# metering writes of many concurrent streams do not queue behind one another.
achat_prepare = db_sync_to_async(chat_prepare)
_arecord = db_sync_to_async(usage_record_create)


async def usage_flush() -> None:
    """Wait until every usage record written behind an answer is in the database."""
    await write_behind_flush()


class _Meter:
    """What one call produced, to price and record it once, whatever way it ends."""

    def __init__(self, prepared: PreparedChat, *, streamed: bool, write_behind: bool = False) -> None:
        self.prepared = prepared
        self.streamed = streamed
        self.write_behind = write_behind
        self.started = time.monotonic()
        self.first_token_at: float | None = None
        self.text_chars: list[str] = []
        self.reasoning_chars: list[str] = []
        self.tool_chars: list[str] = []
        self.recorded = False
        # Speech-to-text is priced per audio minute, not per token: its calls price the usage themselves.
        self.priced = False

    def saw(self, event: LlmEvent) -> None:
        """Note an event on its way to the consumer."""
        if self.first_token_at is None:
            self.first_token_at = time.monotonic()
        if event.type == "text-delta":
            self.text_chars.append(event.content)
        elif event.type == "reasoning-delta":
            self.reasoning_chars.append(event.content)
        elif event.type == "tool-call":
            self.tool_chars.append(f"{event.tool_name}{event.args}")

    def counted_usage(self, *, include_prompt: bool) -> Usage:
        """Tokens counted locally from what actually arrived."""
        reasoning = estimate_tokens("".join(self.reasoning_chars))
        completion = estimate_tokens("".join(self.text_chars)) + reasoning + estimate_tokens("".join(self.tool_chars))
        prompt = self.prepared.estimated_prompt_tokens if include_prompt else 0
        return Usage(prompt_tokens=prompt, completion_tokens=completion, reasoning_tokens=reasoning, source=UsageSource.ESTIMATED)

    async def record(self, *, usage: Usage, status: str, error: ApplicationError | None = None) -> str:
        """Price `usage` from the registry and write the usage record; returns its id."""
        entry = self.prepared.model
        if not (self.priced and usage.cost is not None):
            usage.cost = usage_cost(usage=usage, input_cost=entry.input_cost, output_cost=entry.output_cost)
        now = time.monotonic()
        record_id = uuid.uuid4()
        self.recorded = True
        fields = dict(
            record_id=record_id, user_id=self.prepared.user_id, api_key_id=self.prepared.api_key_id,
            workspace_id=self.prepared.workspace_id, model_id=entry.id, model_name=entry.name, provider_name=entry.provider_name,
            usage=usage, status=status, latency_ms=int((now - self.started) * 1000),
            ttft_ms=int((self.first_token_at - self.started) * 1000) if self.first_token_at is not None else None,
            streamed=self.streamed, origin=self.prepared.origin, request_id=self.prepared.request_id,
            error_code=error.code if error else "", error_message=error.message if error else "",
        )
        if self.write_behind:
            # The answer does not wait for the INSERT (a commit is an fsync on a durable database); it
            # shares a hop, a commit and an INSERT with the other records queued meanwhile.
            write_behind(Row(usage_records_create, fields))
        else:
            await _write_record(fields)
        return str(record_id)

    def has_output(self) -> bool:
        """True when any token reached the consumer."""
        return bool(self.text_chars or self.reasoning_chars or self.tool_chars)


async def _write_record(fields: dict[str, Any]) -> None:
    try:
        await _arecord(**fields)
    except Exception:  # metering must never turn an answer into an error; the log has it
        logger.exception("Could not write the usage record of request %s", fields.get("request_id"))


async def stream_prepared(prepared: PreparedChat, *, write_behind: bool = False) -> AsyncGenerator[LlmEvent, None]:
    """Stream a prepared call and meter it (see the module docstring).

    `write_behind=True` lets the answer finish before its usage record is committed (the record id
    in `finish` is final either way); `usage_flush()` waits for such writes.
    """
    meter = _Meter(prepared, streamed=True, write_behind=write_behind)
    upstream = provider_for(prepared.model.provider).stream(prepared.request)
    try:
        async for event in upstream:
            if event.type == "finish":
                usage = event.usage or meter.counted_usage(include_prompt=True)
                event.usage = usage
                event.usage_record_id = await meter.record(usage=usage, status=UsageStatus.COMPLETED)
                yield event
                return
            meter.saw(event)
            yield event
        # An adapter that ended without `finish` still gets metered, from what arrived.
        usage = meter.counted_usage(include_prompt=True)
        event = LlmEvent(type="finish", finish_reason="stop", usage=usage)
        event.usage_record_id = await meter.record(usage=usage, status=UsageStatus.COMPLETED)
        yield event
    except ApplicationError as exc:
        if not meter.recorded:
            # Providers bill a failed stream for what they produced; nothing produced, nothing billed.
            await meter.record(usage=meter.counted_usage(include_prompt=meter.has_output()), status=UsageStatus.FAILED, error=exc)
        raise
    finally:
        # Close the upstream first (a stop must not keep paying for tokens), then meter the stop.
        await _close_quietly(upstream)
        if not meter.recorded:
            await shielded(meter.record(usage=meter.counted_usage(include_prompt=True), status=UsageStatus.STOPPED))


async def _close_quietly(iterator: Any) -> None:
    try:
        await asyncio.wait_for(shielded(iterator.aclose()), timeout=1.0)
    except Exception:  # a broken connection is closed either way
        pass


async def stream_chat(*, user: User, model: Any, messages: Any, system_prompt: str | None = None, temperature: Any = None,
                      max_tokens: Any = None, api_key: Any = None, request_id: str | None = None, tools: Any = None,
                      workspace: Any = None, origin: str = "chat") -> AsyncGenerator[LlmEvent, None]:
    """Check, call and meter one streamed chat; yields LlmEvents (errors raise ApplicationError)."""
    prepared = await achat_prepare(user=user, model=model, messages=messages, system_prompt=system_prompt, temperature=temperature,
                                   max_tokens=max_tokens, tools=tools, api_key=api_key, request_id=request_id, workspace=workspace,
                                   origin=origin)
    stream = stream_prepared(prepared)
    try:
        async for event in stream:
            yield event
    finally:
        await stream.aclose()


async def _call_metered(meter: _Meter, prepared: PreparedChat, call: Awaitable[T]) -> T:
    """Await a non-streamed provider call; a failure or a cancel is metered before it goes on up."""
    try:
        return await call
    except ApplicationError as exc:
        await meter.record(usage=Usage(source=UsageSource.ESTIMATED), status=UsageStatus.FAILED, error=exc)
        raise
    except asyncio.CancelledError:
        await shielded(meter.record(usage=Usage(prompt_tokens=prepared.estimated_prompt_tokens, source=UsageSource.ESTIMATED),
                                     status=UsageStatus.STOPPED))
        raise


async def complete_prepared(prepared: PreparedChat, *, write_behind: bool = False) -> Completion:
    """Call a prepared chat without streaming, and meter it (`write_behind` as for `stream_prepared`)."""
    meter = _Meter(prepared, streamed=False, write_behind=write_behind)
    result = await _call_metered(meter, prepared, provider_for(prepared.model.provider).complete(prepared.request))
    meter.first_token_at = time.monotonic()
    if result.usage is None:
        meter.text_chars, meter.reasoning_chars = [result.text], [result.reasoning]
        meter.tool_chars = [f"{call.tool_name}{call.args}" for call in result.tool_calls]
        result.usage = meter.counted_usage(include_prompt=True)
    result.usage_record_id = await meter.record(usage=result.usage, status=UsageStatus.COMPLETED)
    return result


async def complete_chat(*, user: User, model: Any, messages: Any, system_prompt: str | None = None, temperature: Any = None,
                        max_tokens: Any = None, api_key: Any = None, request_id: str | None = None, tools: Any = None,
                        workspace: Any = None, origin: str = "chat") -> Completion:
    """Check, call and meter one chat, returning the whole answer."""
    prepared = await achat_prepare(user=user, model=model, messages=messages, system_prompt=system_prompt, temperature=temperature,
                                   max_tokens=max_tokens, tools=tools, api_key=api_key, request_id=request_id, workspace=workspace,
                                   origin=origin)
    return await complete_prepared(prepared)


def complete_chat_sync(**kwargs: Any) -> Completion:
    """`complete_chat` for sync code (Celery tasks, management commands)."""
    return async_to_sync(complete_chat)(**kwargs)


# Output tokens an image is counted as when the provider reports no usage (OpenAI's 1024x1024 medium quality).
IMAGE_OUTPUT_TOKENS_ESTIMATE = 1056


async def generate_image_prepared(prepared: PreparedChat, *, size: str = "1024x1024") -> ImageResult:
    """Make one image from a prepared call (its user message is the prompt) with a model of the `image` capability; metered.

    Image models are priced like chat models, per 1M tokens (OpenAI's image tokens); without a usage
    report the image counts as IMAGE_OUTPUT_TOKENS_ESTIMATE output tokens.
    """
    if "image" not in prepared.model.capabilities:
        raise ChatInputInvalid(f"The model '{prepared.model.name}' cannot make images.", details={"model": ["No `image` capability."]})
    provider: Any = provider_for(prepared.model.provider)
    if not hasattr(provider, "generate_image"):
        raise ChatInputInvalid(f"The provider of '{prepared.model.name}' has no images API.", details={"model": ["No images API."]})
    meter = _Meter(prepared, streamed=False)
    prompt = prepared.request.messages[-1]["content"]
    result: ImageResult = await _call_metered(meter, prepared, provider.generate_image(model=prepared.request.model, prompt=prompt,
                                                                                       size=size))
    if result.usage is None:
        result.usage = Usage(prompt_tokens=prepared.estimated_prompt_tokens, completion_tokens=IMAGE_OUTPUT_TOKENS_ESTIMATE,
                             source=UsageSource.ESTIMATED)
    result.usage_record_id = await meter.record(usage=result.usage, status=UsageStatus.COMPLETED)
    return result


def cost_estimate(*, prepared: PreparedChat, max_tokens: int | None = None) -> float:
    """The most a prepared call can cost, in credits (prompt estimate + the whole output budget)."""
    output = max_tokens or prepared.request.max_tokens or prepared.model.max_output_tokens
    raw = (prepared.estimated_prompt_tokens * prepared.model.input_cost + output * prepared.model.output_cost) / 1_000_000
    return math.ceil(float(raw) * 1_000_000) / 1_000_000


# ------------------------------------------------------------------------------------------------
# Speech: transcription (capability `stt`, priced per audio minute) and synthesis (`tts`, per 1M characters)
# ------------------------------------------------------------------------------------------------

SPEECH_CAPABILITIES = ("stt", "tts")


def speech_prepare(*, user: User, model: Any, capability: str, api_key: Any = None, request_id: str | None = None,
                   origin: str = "voice") -> PreparedChat:
    """A checked speech call: the model exists (404), the tier may use it (403) and it has `capability` (400)."""
    entry = model_resolve_for_user(user=user, model=model)
    if capability not in entry.capabilities:
        raise _field_error("model", f"The model '{entry.name}' has no `{capability}` capability.")
    if entry.provider_kind != "openai":
        raise _field_error("model", f"The provider of '{entry.name}' has no OpenAI-compatible audio API.")
    return PreparedChat(
        model=entry, request=ChatRequest(model=entry.provider_model, messages=[]), user_id=getattr(user, "pk", None),
        api_key_id=getattr(api_key, "pk", api_key), workspace_id=None, request_id=request_id or get_request_id() or uuid.uuid4().hex,
        origin=origin, estimated_prompt_tokens=0,
    )


aspeech_prepare = db_sync_to_async(speech_prepare)


def transcription_cost(*, seconds: float, per_minute: Any) -> Any:
    """Credits for `seconds` of audio at `per_minute` credits a minute."""
    from decimal import Decimal

    from .services import COST_QUANTUM

    return (Decimal(str(max(0.0, seconds))) / 60 * Decimal(str(per_minute))).quantize(COST_QUANTUM)


async def transcribe_prepared(prepared: PreparedChat, *, audio: bytes, filename: str, media_type: str,
                              language: str = "") -> Transcription:
    """Transcribe audio with a prepared `stt` call and meter it (one usage record, priced per audio minute)."""
    meter = _Meter(prepared, streamed=False)
    meter.priced = True
    provider: Any = provider_for(prepared.model.provider)
    result: Transcription = await _call_metered(meter, prepared, provider.transcribe(
        model=prepared.request.model, audio=audio, filename=filename, media_type=media_type, language=language))
    meter.first_token_at = time.monotonic()
    result.usage = Usage(completion_tokens=estimate_tokens(result.text), source=UsageSource.PROVIDER,
                         cost=transcription_cost(seconds=result.duration_seconds, per_minute=prepared.model.audio_cost_per_minute))
    result.usage_record_id = await meter.record(usage=result.usage, status=UsageStatus.COMPLETED)
    return result


async def speak_prepared(prepared: PreparedChat, *, text: str, voice: str, audio_format: str) -> SpeechAudio:
    """Synthesize `text` with a prepared `tts` call and meter it (characters count as input tokens: input_cost per 1M)."""
    meter = _Meter(prepared, streamed=False)
    provider: Any = provider_for(prepared.model.provider)
    result: SpeechAudio = await _call_metered(meter, prepared, provider.speak(model=prepared.request.model, text=text, voice=voice,
                                                                              audio_format=audio_format))
    meter.first_token_at = time.monotonic()
    result.usage = Usage(prompt_tokens=len(text), source=UsageSource.PROVIDER)
    result.usage_record_id = await meter.record(usage=result.usage, status=UsageStatus.COMPLETED)
    return result
