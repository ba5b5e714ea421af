"""The Gemini API through the official `google-genai` SDK.

Streams use `streamGenerateContent?alt=sse`; every chunk may carry `usage_metadata` and the last
one has the totals. Thought parts (`thought: true`) become `reasoning-delta`; Gemini reports
`thoughts_token_count` apart from `candidates_token_count`, so completion = candidates + thoughts.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import httpx
from google import genai
from google.genai import types

from ..tokens import message_text
from .base import (
    ChatRequest,
    Completion,
    LlmEvent,
    ProviderSettings,
    Usage,
    client_for_loop,
    finish,
    reasoning_delta,
    text_delta,
    tool_call,
)
from .errors import map_provider_error
from .retry import open_with_retry

# Responses opened by the current stream. The SDK reads a stream through a chain of nested async
# generators that hold a reference cycle, so closing the outer one leaves the HTTP response open
# until the cyclic garbage collector runs; the adapter closes what it opened itself instead.
_open_responses: ContextVar[list[Any] | None] = ContextVar("gemini_open_responses", default=None)


async def _track_response(response: httpx.Response) -> None:
    opened = _open_responses.get()
    if opened is not None:
        opened.append(response)


FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter"}



def to_gemini_contents(messages: list[dict[str, Any]], system_prompt: str | None) -> tuple[str, list[dict[str, Any]]]:
    """OpenAI-style messages as (system instruction, Gemini contents with function call/response parts)."""
    system: list[str] = [system_prompt] if system_prompt else []
    names: dict[str, str] = {}  # tool_call_id -> function name, since Gemini answers by name
    contents: list[dict[str, Any]] = []
    for message in messages:
        role = message["role"]
        if role == "system":
            system.append(message_text(message.get("content")))
        elif role == "tool":
            name = names.get(message.get("tool_call_id", ""), message.get("name", "tool"))
            part = {"function_response": {"name": name, "response": {"result": message_text(message.get("content"))}}}
            if contents and contents[-1]["role"] == "user" and "function_response" in contents[-1]["parts"][-1]:
                contents[-1]["parts"].append(part)  # the answers to one turn's calls go back in one content
            else:
                contents.append({"role": "user", "parts": [part]})
        elif role == "assistant":
            parts: list[dict[str, Any]] = []
            text = message_text(message.get("content"))
            if text:
                parts.append({"text": text})
            for call in message.get("tool_calls") or ():
                function = call.get("function", {})
                names[call.get("id", "")] = function.get("name", "")
                try:
                    args = json.loads(function.get("arguments") or "{}")
                except ValueError:
                    args = {}
                parts.append({"function_call": {"name": function.get("name", ""), "args": args}})
            contents.append({"role": "model", "parts": parts or [{"text": ""}]})
        else:
            contents.append({"role": "user", "parts": [{"text": message_text(message.get("content"))}]})
    return "\n\n".join(part for part in system if part), contents


def _usage(metadata: Any) -> Usage | None:
    if metadata is None or metadata.prompt_token_count is None:
        return None
    thoughts = metadata.thoughts_token_count or 0
    return Usage(prompt_tokens=metadata.prompt_token_count or 0, completion_tokens=(metadata.candidates_token_count or 0) + thoughts,
                 reasoning_tokens=thoughts)


class GeminiProvider:
    """Adapter for the Gemini API wire format."""

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings

    def _client(self) -> genai.Client:
        s = self.settings
        options = types.HttpOptions(
            base_url=s.base_url or None,
            timeout=int(s.timeout * 1000),
            retry_options=types.HttpRetryOptions(attempts=1),  # 429s are retried by open_with_retry
        )

        def make() -> tuple[genai.Client, Callable[[], Awaitable[None]]]:
            # Our own httpx client (the SDK would take aiohttp, installed for the other SDKs), closed by us: the SDK leaves a given client open.
            http = options.httpx_async_client = httpx.AsyncClient(timeout=httpx.Timeout(s.timeout, connect=min(s.timeout, 10.0)),
                                                                  event_hooks={"response": [_track_response]})
            return genai.Client(api_key=s.api_key or "missing", http_options=options), http.aclose

        return client_for_loop(("gemini", s.name, s.base_url, s.api_key, s.timeout), make)

    # `contents` is typed Any: the SDK's ContentDict union rejects list[dict] once Pillow (its Image type) is installed.
    def _config(self, request: ChatRequest) -> tuple[Any, types.GenerateContentConfig]:
        system, contents = to_gemini_contents(request.messages, request.system_prompt)
        # Nexus hands tool calls to its caller; the SDK must never run functions by itself.
        config: dict[str, Any] = {"automatic_function_calling": {"disable": True}}
        if system:
            config["system_instruction"] = system
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.max_tokens is not None:
            config["max_output_tokens"] = request.max_tokens
        if request.tools:
            declarations = []
            for tool in request.tools:
                function = tool.get("function", {})
                declaration = {"name": function.get("name", ""), "description": function.get("description", "")}
                if function.get("parameters"):
                    declaration["parameters_json_schema"] = function["parameters"]
                declarations.append(declaration)
            config["tools"] = [{"function_declarations": declarations}]
        return contents, types.GenerateContentConfig(**config)

    def _events_of(self, response: Any) -> tuple[list[LlmEvent], str | None]:
        events: list[LlmEvent] = []
        reason: str | None = None
        for candidate in response.candidates or ():
            content = candidate.content
            for part in (content.parts if content is not None else None) or ():
                if part.function_call is not None:
                    call = part.function_call
                    events.append(tool_call(call_id=call.id or f"call_{uuid.uuid4().hex[:12]}", name=call.name or "", args=dict(call.args or {})))
                    reason = "tool_calls"
                elif part.text:
                    events.append(reasoning_delta(part.text) if part.thought else text_delta(part.text))
            if candidate.finish_reason is not None and reason is None:
                raw = getattr(candidate.finish_reason, "value", str(candidate.finish_reason))
                reason = FINISH_REASONS.get(raw, raw.lower())
        return events, reason

    async def stream(self, request: ChatRequest) -> AsyncIterator[LlmEvent]:
        """Stream one generation as events; closing this iterator closes the HTTP response."""
        client = self._client()
        contents, config = self._config(request)
        opened: list[Any] = []
        token = _open_responses.set(opened)
        upstream: Any = None
        usage: Usage | None = None
        reason: str | None = None
        try:

            async def open_stream() -> tuple[Any, Any]:
                # The SDK sends the request on the first read, so a 429 shows up there: read it
                # inside the retry.
                stream = (await client.aio.models.generate_content_stream(model=request.model, contents=contents,
                                                                         config=config)).__aiter__()
                return stream, await anext(stream, None)

            upstream, first = await open_with_retry(open_stream, provider=self.settings.name)

            async def chunks() -> AsyncIterator[Any]:
                if first is not None:
                    yield first
                    async for more in upstream:
                        yield more

            async for chunk in chunks():
                usage = _usage(chunk.usage_metadata) or usage
                events, chunk_reason = self._events_of(chunk)
                reason = chunk_reason or reason
                for event in events:
                    yield event
            yield finish(reason=reason, usage=usage)
        except Exception as exc:
            raise map_provider_error(exc, provider=self.settings.name) from exc
        finally:
            for response in opened:
                await response.aclose()
            aclose = getattr(upstream, "aclose", None)
            if aclose is not None:
                await aclose()
            try:
                _open_responses.reset(token)
            except ValueError:  # finalized from another context; nothing of ours is left in it
                pass

    async def complete(self, request: ChatRequest) -> Completion:
        """One generation, not streamed."""
        client = self._client()
        contents, config = self._config(request)
        response = await open_with_retry(
            lambda: client.aio.models.generate_content(model=request.model, contents=contents, config=config),
            provider=self.settings.name,
        )
        events, reason = self._events_of(response)
        result = Completion(finish_reason=reason, usage=_usage(response.usage_metadata))
        result.text = "".join(e.content for e in events if e.type == "text-delta")
        result.reasoning = "".join(e.content for e in events if e.type == "reasoning-delta")
        result.tool_calls = [e for e in events if e.type == "tool-call"]
        return result

    async def list_models(self) -> list[str]:
        """Model names without the `models/` prefix."""
        client = self._client()
        try:
            pager = await client.aio.models.list()
            return sorted([(model.name or "").removeprefix("models/") async for model in pager])
        except Exception as exc:
            raise map_provider_error(exc, provider=self.settings.name) from exc

    async def validate(self) -> None:
        """Listing models proves the URL and the key."""
        await self.list_models()
