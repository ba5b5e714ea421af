"""OpenAI Chat Completions through the official `openai` SDK: OpenAI and every compatible server.

Reasoning arrives in `delta.reasoning_content` (DeepSeek, vLLM, llama.cpp) or `delta.reasoning`
(OpenRouter, Ollama); both become `reasoning-delta`. Usage is asked for in streams with
`stream_options.include_usage` and arrives in a last chunk without choices.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import openai

from .base import (
    ChatRequest,
    Completion,
    ImageResult,
    LlmEvent,
    ProviderSettings,
    SpeechAudio,
    Transcription,
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

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
AUDIO_MEDIA_TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac",
                     "pcm": "audio/L16"}


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    details = raw.get("completion_tokens_details")
    reasoning = (details.get("reasoning_tokens") if isinstance(details, dict) else None) or 0
    return Usage(prompt_tokens=raw.get("prompt_tokens") or 0, completion_tokens=raw.get("completion_tokens") or 0,
                 reasoning_tokens=reasoning)


def _reasoning_of(delta: dict[str, Any]) -> str | None:
    value = delta.get("reasoning_content") or delta.get("reasoning")
    return value if isinstance(value, str) and value else None


# Chat answers and stream chunks are read as the JSON they are (`cast_to=object`), not built into
# the SDK's pydantic models: building a model per chunk, and transforming the request's typed
# parameters, were a tenth of a web process's CPU with 500 replies streaming. The SDK still does
# the call: client, auth, base URL, timeouts, retries of the open, its HTTP errors.
class _ChunkStream(openai.AsyncStream[object]):
    """The SDK's stream of a chat completion, its SSE body read to the end and split a read at a time.

    The SDK's own `__stream__` stops at `[DONE]` and leaves its chain of SSE and body generators
    open; the event loop's finalizer then closes each of them with a wake-up of the loop and a task
    apiece, and it decodes the body line by line. Read to its end here, the body's generators finish
    by themselves, and each read's frames are split at once: with 50 gateway streams in flight, 5.49
    → 5.11 ms of CPU per stream and 174 → 186 streams/s (three interleaved runs). Errors are the SDK's: a chunk
    carrying `error` raises `openai.APIError`, a frame that is not JSON raises ValueError, as there.
    """

    async def __stream__(self) -> AsyncIterator[object]:
        response = self.response
        pending = b""
        done = False
        try:
            async for data in response.aiter_bytes():
                if done:
                    continue  # drained, so the connection goes back to the pool
                pending += data
                frames, pending = _sse_split(pending)
                for payload in frames:
                    if payload.startswith(b"[DONE]"):
                        done = True
                        break
                    yield _chunk(payload, response)
            if not done and pending.strip():  # a last frame without its blank line
                for payload in _sse_split(pending + b"\n\n")[0]:
                    if payload.startswith(b"[DONE]"):
                        break
                    yield _chunk(payload, response)
        finally:
            await response.aclose()


def _sse_split(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The `data` of each complete SSE frame in `buffer` (comments and other fields dropped), and the incomplete rest."""
    # A CR that ends the buffer may be the first half of a CRLF split between two reads: it waits for the next one.
    held = b"\r" if buffer.endswith(b"\r") else b""
    if b"\r" in buffer:
        buffer = buffer[:len(buffer) - len(held)].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    *frames, rest = buffer.split(b"\n\n")
    rest += held
    payloads = []
    for frame in frames:
        # `data:` lines, their one optional leading space removed, joined by newlines (the SSE spec).
        lines = [line[6:] if line[5:6] == b" " else line[5:] for line in frame.split(b"\n") if line.startswith(b"data:")]
        if lines:
            payloads.append(b"\n".join(lines))
    return payloads, rest


def _chunk(payload: bytes, response: Any) -> object:
    chunk = json.loads(payload)
    if isinstance(chunk, dict) and chunk.get("error"):
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else None
        raise openai.APIError(message=message if isinstance(message, str) and message else "An error occurred during streaming",
                              request=response.request, body=error)
    return chunk


def _args(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {"_raw": raw}  # the model produced invalid JSON; hand it on rather than lose it
    return value if isinstance(value, dict) else {"value": value}


class OpenAIProvider:
    """Adapter for the OpenAI Chat Completions wire format."""

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        # The official API wants max_completion_tokens; compatible servers know max_tokens.
        self._official = not settings.base_url or settings.base_url.rstrip("/") == OPENAI_DEFAULT_BASE_URL

    def _client(self) -> openai.AsyncOpenAI:
        s = self.settings

        def make() -> tuple[openai.AsyncOpenAI, Callable[[], Awaitable[None]]]:
            client = openai.AsyncOpenAI(
                api_key=s.api_key or "not-needed",
                base_url=s.base_url or OPENAI_DEFAULT_BASE_URL,
                timeout=sdk_timeout(s.timeout),
                max_retries=0,  # 429s are retried by open_with_retry, everything else fails fast
                http_client=sdk_http_client(openai),
            )
            return client, client.close

        return client_for_loop(("openai", s.name, s.base_url, s.api_key, s.timeout), make)

    def _params(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        messages = list(request.messages)
        if request.system_prompt:
            messages.insert(0, {"role": "system", "content": request.system_prompt})
        params: dict[str, Any] = {"model": request.model, "messages": messages}
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.max_tokens is not None:
            params["max_completion_tokens" if self._official else "max_tokens"] = request.max_tokens
        if request.tools:
            params["tools"] = request.tools
        if request.response_format:
            params["response_format"] = request.response_format
        if stream:
            params["stream"] = True
            params["stream_options"] = {"include_usage": True}
        return params

    async def stream(self, request: ChatRequest) -> AsyncIterator[LlmEvent]:
        """Stream one chat completion as events; closing this iterator closes the HTTP response."""
        client = self._client()
        params = self._params(request, stream=True)
        upstream = await open_with_retry(
            lambda: client.post("/chat/completions", body=params, cast_to=object, stream=True, stream_cls=_ChunkStream),
            provider=self.settings.name,
        )
        usage: Usage | None = None
        finish_reason: str | None = None
        calls: dict[int, dict[str, str]] = {}
        try:
            async for chunk in upstream:
                if not isinstance(chunk, dict):
                    raise ConnectionError(f"malformed chunk: {str(chunk)[:80]}")
                if chunk.get("usage") is not None:
                    usage = _usage(chunk["usage"])
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta")
                    if isinstance(delta, dict):
                        reasoning = _reasoning_of(delta)
                        if reasoning:
                            yield reasoning_delta(reasoning)
                        if delta.get("content"):
                            yield text_delta(delta["content"])
                        for part in delta.get("tool_calls") or ():
                            call = calls.setdefault(part.get("index", 0), {"id": "", "name": "", "arguments": ""})
                            if part.get("id"):
                                call["id"] = part["id"]
                            function = part.get("function")
                            if isinstance(function, dict):
                                call["name"] += function.get("name") or ""
                                call["arguments"] += function.get("arguments") or ""
                    if choice.get("finish_reason"):
                        finish_reason = choice["finish_reason"]
            for index in sorted(calls):
                call = calls[index]
                yield tool_call(call_id=call["id"] or f"call_{index}", name=call["name"], args=_args(call["arguments"]))
            yield finish(reason=finish_reason, usage=usage)
        except Exception as exc:
            raise map_provider_error(exc, provider=self.settings.name) from exc
        finally:
            await upstream.close()

    async def complete(self, request: ChatRequest) -> Completion:
        """One chat completion, not streamed."""
        client = self._client()
        params = self._params(request, stream=False)
        response: Any = await open_with_retry(lambda: client.post("/chat/completions", body=params, cast_to=object),
                                              provider=self.settings.name)
        try:
            choice = response["choices"][0]
            message = choice["message"]
            result = Completion(text=message.get("content") or "", reasoning=_reasoning_of(message) or "",
                                finish_reason=choice.get("finish_reason"), usage=_usage(response.get("usage")))
            for index, call in enumerate(message.get("tool_calls") or ()):
                function = call.get("function")
                if isinstance(function, dict):
                    result.tool_calls.append(tool_call(call_id=call.get("id") or f"call_{index}", name=function.get("name") or "",
                                                       args=_args(function.get("arguments"))))
            return result
        except (AttributeError, IndexError, KeyError, TypeError) as exc:
            raise map_provider_error(ConnectionError(f"malformed answer: {exc}"), provider=self.settings.name) from exc

    async def generate_image(self, *, model: str, prompt: str, size: str) -> ImageResult:
        """One image from the OpenAI-compatible images API (`images.generate`), as bytes."""
        import base64

        client = self._client()
        response = await open_with_retry(lambda: client.images.generate(model=model, prompt=prompt, size=size, n=1),
                                          provider=self.settings.name)
        try:
            item = response.data[0] if response.data else None
            if item is None or not item.b64_json:
                raise ValueError("no image data in the answer")
            data = base64.b64decode(item.b64_json)
        except (ValueError, TypeError, IndexError) as exc:
            raise map_provider_error(ConnectionError(f"malformed answer: {exc}"), provider=self.settings.name) from exc
        raw = response.usage
        usage = Usage(prompt_tokens=raw.input_tokens or 0, completion_tokens=raw.output_tokens or 0) if raw is not None else None
        return ImageResult(data=data, media_type=f"image/{response.output_format or 'png'}", usage=usage)

    async def transcribe(self, *, model: str, audio: bytes, filename: str, media_type: str, language: str = "") -> Transcription:
        """Speech to text through the OpenAI-compatible `audio.transcriptions` API (verbose JSON: text, language, duration)."""
        client = self._client()
        extra: dict[str, Any] = {"language": language} if language else {}
        response = await open_with_retry(
            lambda: client.audio.transcriptions.create(model=model, file=(filename, audio, media_type), response_format="verbose_json",
                                                       **extra),
            provider=self.settings.name,
        )
        try:
            text = response.text if isinstance(response.text, str) else ""
            return Transcription(text=text.strip(), language=str(getattr(response, "language", "") or language or ""),
                                 duration_seconds=float(getattr(response, "duration", 0) or 0))
        except (AttributeError, TypeError, ValueError) as exc:
            raise map_provider_error(ConnectionError(f"malformed answer: {exc}"), provider=self.settings.name) from exc

    async def speak(self, *, model: str, text: str, voice: str, audio_format: str) -> SpeechAudio:
        """Text to speech through the OpenAI-compatible `audio.speech` API; the whole audio as bytes."""
        client = self._client()
        response = await open_with_retry(
            lambda: client.audio.speech.create(model=model, input=text, voice=voice, response_format=audio_format),  # type: ignore[arg-type]
            provider=self.settings.name,
        )
        try:
            data = response.content
        except Exception as exc:
            raise map_provider_error(exc, provider=self.settings.name) from exc
        media_type = response.response.headers.get("content-type", "").split(";")[0] or AUDIO_MEDIA_TYPES.get(audio_format, "audio/wav")
        return SpeechAudio(data=data, media_type=media_type)

    async def list_models(self) -> list[str]:
        """The ids `/models` lists."""
        client = self._client()
        try:
            page = await client.models.list()
            return sorted(model.id for model in page.data)
        except Exception as exc:
            raise map_provider_error(exc, provider=self.settings.name) from exc

    async def validate(self) -> None:
        """Listing models proves the URL and the key."""
        await self.list_models()
