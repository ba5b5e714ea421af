"""The Anthropic Messages API through the official `anthropic` SDK.

Streams are read as raw server events: `message_start` carries the input tokens,
`content_block_*` the text, thinking and tool-use blocks, `message_delta` the final output tokens.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anthropic

from ..tokens import estimate_tokens, message_text
from .base import (
    ChatRequest,
    Completion,
    LlmEvent,
    ProviderSettings,
    Usage,
    client_for_loop,
    finish,
    reasoning_delta,
    sdk_http_client,
    sdk_timeout,
    text_delta,
    tool_call,
)
from .errors import map_provider_error
from .retry import open_with_retry

STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls", "refusal": "content_filter"}



def to_anthropic_messages(messages: list[dict[str, Any]], system_prompt: str | None) -> tuple[str, list[dict[str, Any]]]:
    """OpenAI-style messages as (system text, Anthropic messages with tool_use/tool_result blocks)."""
    system: list[str] = [system_prompt] if system_prompt else []
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message["role"]
        if role == "system":
            system.append(message_text(message.get("content")))
        elif role == "tool":
            block = {"type": "tool_result", "tool_use_id": message.get("tool_call_id", ""), "content": message_text(message.get("content"))}
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)  # the results of one turn's calls go back in one user message
            else:
                out.append({"role": "user", "content": [block]})
        elif role == "assistant" and message.get("tool_calls"):
            blocks: list[dict[str, Any]] = []
            text = message_text(message.get("content"))
            if text:
                blocks.append({"type": "text", "text": text})
            for call in message["tool_calls"]:
                function = call.get("function", {})
                try:
                    arguments = json.loads(function.get("arguments") or "{}")
                except ValueError:
                    arguments = {}
                blocks.append({"type": "tool_use", "id": call.get("id", ""), "name": function.get("name", ""), "input": arguments})
            out.append({"role": "assistant", "content": blocks})
        else:
            out.append({"role": role, "content": message_text(message.get("content"))})
    return "\n\n".join(part for part in system if part), out


def to_anthropic_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """OpenAI function tools as Anthropic tool definitions."""
    result = []
    for tool in tools or ():
        function = tool.get("function", {})
        result.append({
            "name": function.get("name", ""),
            "description": function.get("description", ""),
            "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
        })
    return result


def _input_tokens(usage: Any) -> int:
    # Cached prompt tokens are still prompt tokens for metering (their discount is the vendor's business).
    return sum(int(getattr(usage, name, 0) or 0) for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))


class AnthropicProvider:
    """Adapter for the Anthropic Messages wire format."""

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings

    def _client(self) -> anthropic.AsyncAnthropic:
        s = self.settings

        def make() -> tuple[anthropic.AsyncAnthropic, Callable[[], Awaitable[None]]]:
            client = anthropic.AsyncAnthropic(
                api_key=s.api_key or "missing",
                base_url=s.base_url or None,
                timeout=sdk_timeout(s.timeout),
                max_retries=0,
                http_client=sdk_http_client(anthropic),
            )
            return client, client.close

        return client_for_loop(("anthropic", s.name, s.base_url, s.api_key, s.timeout), make)

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        system, messages = to_anthropic_messages(request.messages, request.system_prompt)
        params: dict[str, Any] = {"model": request.model, "messages": messages, "max_tokens": request.max_tokens or request.max_output_tokens}
        if system:
            params["system"] = system
        # The current Messages API (and its SDK) has no sampling temperature: it is not sent.
        if request.tools:
            params["tools"] = to_anthropic_tools(request.tools)
        return params

    async def stream(self, request: ChatRequest) -> AsyncIterator[LlmEvent]:
        """Stream one message as events; closing this iterator closes the HTTP response."""
        client = self._client()
        params = self._params(request)
        upstream = await open_with_retry(lambda: client.messages.create(stream=True, **params), provider=self.settings.name)
        prompt_tokens: int | None = None
        output_tokens: int | None = None
        thinking_chars: list[str] = []
        stop_reason: str | None = None
        blocks: dict[int, dict[str, Any]] = {}
        try:
            async for event in upstream:
                kind = event.type
                if kind == "message_start":
                    usage = getattr(event.message, "usage", None)
                    if usage is not None:
                        prompt_tokens = _input_tokens(usage)
                        output_tokens = getattr(usage, "output_tokens", None)
                elif kind == "content_block_start":
                    block = event.content_block
                    if block.type == "tool_use":
                        blocks[event.index] = {"id": block.id, "name": block.name, "json": ""}
                elif kind == "content_block_delta":
                    delta = event.delta
                    if delta.type == "text_delta":
                        yield text_delta(delta.text)
                    elif delta.type == "thinking_delta":
                        thinking_chars.append(delta.thinking)
                        yield reasoning_delta(delta.thinking)
                    elif delta.type == "input_json_delta" and event.index in blocks:
                        blocks[event.index]["json"] += delta.partial_json
                elif kind == "content_block_stop" and event.index in blocks:
                    block = blocks.pop(event.index)
                    try:
                        args = json.loads(block["json"] or "{}")
                    except ValueError:
                        args = {"_raw": block["json"]}
                    yield tool_call(call_id=block["id"], name=block["name"], args=args)
                elif kind == "message_delta":
                    stop_reason = getattr(event.delta, "stop_reason", None) or stop_reason
                    usage = getattr(event, "usage", None)
                    if usage is not None:
                        output_tokens = getattr(usage, "output_tokens", None) or output_tokens
                        if getattr(usage, "input_tokens", None):
                            prompt_tokens = _input_tokens(usage)
            usage_out = None
            if prompt_tokens is not None and output_tokens is not None:
                # Anthropic counts thinking inside output_tokens without a separate figure.
                reasoning = min(output_tokens, estimate_tokens("".join(thinking_chars))) if thinking_chars else 0
                usage_out = Usage(prompt_tokens=prompt_tokens, completion_tokens=output_tokens, reasoning_tokens=reasoning)
            yield finish(reason=STOP_REASONS.get(stop_reason or "", stop_reason), usage=usage_out)
        except Exception as exc:
            raise map_provider_error(exc, provider=self.settings.name) from exc
        finally:
            await upstream.close()

    async def complete(self, request: ChatRequest) -> Completion:
        """One message, not streamed."""
        client = self._client()
        params = self._params(request)
        message = await open_with_retry(lambda: client.messages.create(**params), provider=self.settings.name)
        result = Completion(finish_reason=STOP_REASONS.get(message.stop_reason or "", message.stop_reason))
        text: list[str] = []
        thinking: list[str] = []
        for block in message.content:
            if block.type == "text":
                text.append(block.text)
            elif block.type == "thinking":
                thinking.append(block.thinking)
            elif block.type == "tool_use":
                result.tool_calls.append(tool_call(call_id=block.id, name=block.name, args=dict(block.input or {})))
        result.text, result.reasoning = "".join(text), "".join(thinking)
        if message.usage is not None:
            output = message.usage.output_tokens or 0
            result.usage = Usage(prompt_tokens=_input_tokens(message.usage), completion_tokens=output,
                                 reasoning_tokens=min(output, estimate_tokens(result.reasoning)) if result.reasoning else 0)
        return result

    async def list_models(self) -> list[str]:
        """The ids `/v1/models` lists."""
        client = self._client()
        try:
            return sorted([model.id async for model in client.models.list()])
        except Exception as exc:
            raise map_provider_error(exc, provider=self.settings.name) from exc

    async def validate(self) -> None:
        """Listing models proves the URL and the key."""
        await self.list_models()
