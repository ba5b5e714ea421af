"""One loopback HTTP server that speaks three real LLM wire formats, for tests and benchmarks.

- OpenAI: `POST /v1/chat/completions` (JSON or SSE with `[DONE]`, usage chunk when
  `stream_options.include_usage`), `GET /v1/models`, `POST /v1/embeddings`,
  `POST /v1/images/generations` (a small PNG as `b64_json`, with gpt-image's token usage).
- OpenAI audio: `POST /v1/audio/transcriptions` (multipart `file`; a deterministic transcript: the text
  set with `server.transcribe_as(audio, text)`, else a sentence derived from the bytes' hash; silent
  WAV gives ""; bytes that are no audio container answer 400) and `POST /v1/audio/speech` (a short
  valid WAV whatever `response_format` asks, its length from the text; `#fail=` etc. apply to the text).
- Anthropic: `POST /v1/messages` (JSON or SSE: message_start, content_block_*, message_delta with
  usage, message_stop), `GET /v1/models` (when the `anthropic-version` header is present).
- Gemini: `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent?alt=sse`
  (usageMetadata on every chunk), `GET /v1beta/models`.

The official SDKs talk to it unchanged (`base_url` = this server). Behaviour is chosen per
request by directives anywhere in the message texts, so they pass through Nexus untouched:

    #fail=500|503|401|400|529   answer that status with the vendor's error body
    #429                        always 429 (Retry-After: 0);  #429-once: 429 the first time this prompt is seen
    #hang                       never answer (the client must time out); #hang-after=N: hang after N chunks
    #slow=0.05                  seconds between streamed chunks
    #malformed-after=N          a chunk of broken JSON after N chunks
    #early-close-after=N        drop the connection after N chunks
    #words=N                    reply with N words (default: a fixed sentence)
    #reasoning                  visible reasoning first (reasoning_content / thinking / thought parts)
    #tool                       call the first tool the request offers
    #no-usage                   send no usage report

Scripted replies: `server.script(marker, reply)` answers every request whose texts contain
`marker` with `reply` (a string, or a function of the request's joined texts returning one),
streamed in 16-character chunks; the first matching script wins, failure directives still apply.
`clear()` forgets the scripts.

Scripted tool calls: `server.script_tool(marker, ("search_knowledge", {"query": "..."}), rounds=1)` makes
every request whose texts contain `marker` and that offers tools call the given tools (native function
calling in each wire format: OpenAI `tool_calls`, streamed as deltas; Anthropic `tool_use` blocks with
`input_json_delta`; Gemini `functionCall` parts) until the request already carries `rounds` rounds of tool
results; then it answers text (a `script` reply, which sees the tool results among the texts, or the
default). The tool results a request carried are in its log entry's `tool_results`.

Every request is logged (`server.log`): what arrived, how many chunks went out, the usage
reported, and whether the client closed the connection before the end (`client_closed`).
Run standalone: `python -m tests.fakes.llm_server --port 8199 --api-key test-key`.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .aiohttp_thread import ThreadedAiohttpServer

DEFAULT_REPLY = "Hello from the fake provider, speaking a real wire format."
REASONING = "Let me think about this step by step."
TRANSCRIPT_WORDS = ["amber", "bright", "copper", "delta", "echo", "forest", "golden", "harbor", "island", "jasper", "kettle",
                    "lemon", "meadow", "north", "orbit", "pepper"]


def audio_kind(data: bytes) -> str | None:
    """The container of `data` from its first bytes (wav, ogg, webm, mp3, flac), or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    if data[:4] == b"fLaC":
        return "flac"
    return None


def wav_info(data: bytes) -> tuple[float, bool]:
    """(duration in seconds, silent) of a PCM WAV file (silent: every 16-bit sample within +-64)."""
    import struct

    position, byte_rate, bits, duration, silent = 12, 0, 16, 0.0, True
    while position + 8 <= len(data):
        chunk_id, size = data[position:position + 4], struct.unpack("<I", data[position + 4:position + 8])[0]
        body = data[position + 8:position + 8 + size]
        if chunk_id == b"fmt " and len(body) >= 16:
            byte_rate, bits = struct.unpack("<I", body[8:12])[0], struct.unpack("<H", body[14:16])[0]
        elif chunk_id == b"data":
            duration = len(body) / byte_rate if byte_rate else 0.0
            if bits == 16:
                samples = struct.unpack(f"<{len(body) // 2}h", body[: len(body) // 2 * 2])
                silent = all(-64 <= sample <= 64 for sample in samples)
            else:
                silent = not any(body)
        position += 8 + size + (size & 1)
    return duration, silent


def tone_wav(seconds: float, frequency: float = 440.0, rate: int = 8000) -> bytes:
    """A mono 16-bit PCM WAV of a sine tone."""
    import struct

    count = max(1, int(seconds * rate))
    samples = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * frequency * i / rate))) for i in range(count))
    header = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
    return header + b"data" + struct.pack("<I", len(samples)) + samples


@dataclass
class RequestLog:
    """One request as the fake saw it."""

    id: str
    api: str
    path: str
    model: str
    stream: bool
    body: dict[str, Any]
    directives: dict[str, str]
    status: int = 200
    chunks_sent: int = 0
    usage: dict[str, int] | None = None
    completed: bool = False
    client_closed: bool = False
    tool_results: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.monotonic)
    ended_at: float | None = None


def _texts(value: Any) -> list[str]:
    """Every string inside a request body's messages/contents/system fields."""
    out: list[str] = []
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for item in value:
            out.extend(_texts(item))
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in ("content", "text", "parts", "contents", "messages", "system", "systemInstruction", "system_instruction",
                       "result") or isinstance(item, (list, dict)):
                if key not in ("tools", "functionDeclarations", "function_declarations", "parameters", "input_schema"):
                    out.extend(_texts(item))
    return out


def parse_directives(texts: list[str]) -> dict[str, str]:
    """`#name` and `#name=value` tokens found in the prompt."""
    found: dict[str, str] = {}
    for text in texts:
        for name, value in re.findall(r"#([a-z0-9-]+)(?:=([\w.]+))?", text):
            found[name] = value or "1"
    return found


def tool_results_of(api: str, body: dict[str, Any]) -> tuple[list[str], int]:
    """The tool results a request carries back to the model (as text), and how many rounds of them."""
    results: list[str] = []
    rounds = 0
    if api == "openai":
        previous = None
        for message in body.get("messages") or []:
            if isinstance(message, dict) and message.get("role") == "tool":
                results.append(str(message.get("content", "")))
                rounds += previous != "tool"
            previous = message.get("role") if isinstance(message, dict) else None
    elif api == "anthropic":
        for message in body.get("messages") or []:
            blocks = message.get("content") if isinstance(message, dict) else None
            found = [b for b in blocks or [] if isinstance(blocks, list) and isinstance(b, dict) and b.get("type") == "tool_result"]
            results.extend(" ".join(_texts(b.get("content"))) for b in found)
            rounds += bool(found)
    else:
        for content in body.get("contents") or []:
            parts = content.get("parts") if isinstance(content, dict) else None
            found = [p.get("functionResponse") or p.get("function_response") for p in parts or []
                     if isinstance(p, dict) and (p.get("functionResponse") or p.get("function_response"))]
            results.extend(json.dumps(f.get("response")) for f in found if isinstance(f, dict))
            rounds += bool(found)
    return results, rounds


def prompt_token_count(texts: list[str]) -> int:
    """The fake's own prompt tokenizer: words plus a fixed framing cost (deliberately not Nexus's estimate)."""
    return 3 + sum(len(text.split()) for text in texts)


def reply_pieces(directives: dict[str, str]) -> list[str]:
    """The reply, one piece per streamed chunk (one token each, as the fake counts them)."""
    if "words" in directives:
        count = max(1, int(directives["words"]))
        return [("" if i == 0 else " ") + f"w{i}" for i in range(count)]
    words = DEFAULT_REPLY.split(" ")
    return [("" if i == 0 else " ") + word for i, word in enumerate(words)]


def reasoning_pieces(directives: dict[str, str]) -> list[str]:
    """The visible reasoning pieces, when asked for."""
    if "reasoning" not in directives:
        return []
    words = REASONING.split(" ")
    return [("" if i == 0 else " ") + word for i, word in enumerate(words)]


def fake_embedding(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for `text`."""
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((byte - 127.5) / 127.5 for byte in digest)
        counter += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def tiny_png(width: int, height: int, rgb: bytes) -> bytes:
    """A valid PNG of one colour."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + rgb * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class _ClientGone(Exception):
    pass


class FakeLlmServer(ThreadedAiohttpServer):
    """The fake, in a background thread with its own event loop (or standalone with `serve`)."""

    thread_name = "fake-llm"
    backlog = 1024
    # A client that goes away cancels its handler, which is how the fake notices (and records) a
    # closed connection even while it is sleeping or hanging.
    runner_options = {"handler_cancellation": True}

    def __init__(self, *, api_key: str = "test-key", host: str = "127.0.0.1", port: int = 0, models: list[str] | None = None) -> None:
        self.api_key = api_key
        self.host = host
        self.port = port
        self.models = models or ["fake-model", "fake-model-large"]
        self.log: list[RequestLog] = []
        self._seen_429: set[str] = set()
        self._lock = threading.Lock()
        self.keep_log = True
        self.scripts: list[tuple[str, Any]] = []
        self.transcripts: dict[str, str] = {}
        # Seconds each audio call takes (the fake's own latency, which benchmarks subtract).
        self.audio_delay = 0.0
        self.tool_scripts: list[tuple[str, list[tuple[str, dict[str, Any]]], int]] = []

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL (no path)."""
        return f"http://{self.host}:{self.port}"

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self.openai_chat)
        app.router.add_post("/v1/embeddings", self.openai_embeddings)
        app.router.add_post("/v1/images/generations", self.openai_images)
        app.router.add_post("/v1/audio/transcriptions", self.openai_transcriptions)
        app.router.add_post("/v1/audio/speech", self.openai_speech)
        app.router.add_get("/v1/models", self.models_list)
        app.router.add_post("/v1/messages", self.anthropic_messages)
        app.router.add_get("/v1beta/models", self.gemini_models)
        app.router.add_post(r"/v1beta/models/{model}:{method}", self.gemini_generate)
        app.router.add_post(r"/v1/models/{model}:{method}", self.gemini_generate)  # google-genai 3 defaults to v1
        return app

    def clear(self) -> None:
        """Forget the request log and the scripted replies."""
        with self._lock:
            self.log.clear()
            self.scripts.clear()
            self.transcripts.clear()
            self.tool_scripts.clear()

    def script(self, marker: str, reply: Any) -> None:
        """Answer requests whose texts contain `marker` with `reply` (text, or a function of the texts)."""
        with self._lock:
            self.scripts.append((marker, reply))

    def transcribe_as(self, audio: bytes, text: str) -> None:
        """Transcribe exactly these audio bytes as `text`."""
        with self._lock:
            self.transcripts[hashlib.sha256(audio).hexdigest()] = text

    def transcript_for(self, audio: bytes) -> str:
        """The text the fake hears in `audio`: a scripted one, else six words chosen by the bytes' hash."""
        digest = hashlib.sha256(audio).hexdigest()
        with self._lock:
            scripted = self.transcripts.get(digest)
        if scripted is not None:
            return scripted
        raw = bytes.fromhex(digest)
        words = [TRANSCRIPT_WORDS[b % len(TRANSCRIPT_WORDS)] for b in raw[:6]]
        return " ".join(words).capitalize() + "."

    def script_tool(self, marker: str, *calls: tuple[str, dict[str, Any]], rounds: int = 1) -> None:
        """Requests whose texts contain `marker` call `calls` (name, arguments) until they carry `rounds` rounds of results."""
        with self._lock:
            self.tool_scripts.append((marker, list(calls), rounds))

    def _scripted_calls(self, prompt_texts: list[str], rounds_done: int) -> list[tuple[str, dict[str, Any]]]:
        joined = "\n".join(prompt_texts)
        with self._lock:
            scripts = list(self.tool_scripts)
        for marker, calls, rounds in scripts:
            if marker in joined:
                return calls if rounds_done < rounds else []
        return []

    def _scripted(self, prompt_texts: list[str]) -> str | None:
        joined = "\n".join(prompt_texts)
        with self._lock:
            scripts = list(self.scripts)
        for marker, reply in scripts:
            if marker in joined:
                return str(reply(joined) if callable(reply) else reply)
        return None

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> RequestLog:
        """The latest logged request matching `predicate`, waiting for it to appear (for closed-connection checks)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                matches = [entry for entry in self.log if predicate(entry)]
            if matches:
                return matches[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no request matched within {timeout} s; log: {self.log!r}")
            time.sleep(0.02)

    # -- helpers --------------------------------------------------------------------------------
    def _record(self, entry: RequestLog) -> RequestLog:
        if self.keep_log:
            with self._lock:
                self.log.append(entry)
        return entry

    def _authorized(self, request: web.Request, api: str) -> bool:
        if api == "openai":
            return request.headers.get("Authorization", "") == f"Bearer {self.api_key}"
        if api == "anthropic":  # the API takes x-api-key; newer SDKs send the key as a bearer token
            return self.api_key in (request.headers.get("x-api-key", ""), request.headers.get("Authorization", "").removeprefix("Bearer "))
        return request.headers.get("x-goog-api-key", "") == self.api_key or request.query.get("key") == self.api_key

    @staticmethod
    def _error_body(api: str, status: int, message: str) -> dict[str, Any]:
        if api == "anthropic":
            kind = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
                    429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
            return {"type": "error", "error": {"type": kind, "message": message}}
        if api == "gemini":
            state = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                     429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}.get(status, "INTERNAL")
            return {"error": {"code": status, "message": message, "status": state}}
        kind = {400: "invalid_request_error", 401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status, "server_error")
        return {"error": {"message": message, "type": kind, "param": None, "code": kind}}

    async def _preflight(self, request: web.Request, entry: RequestLog) -> web.Response | None:
        """Auth and the failure directives that answer before any content."""
        if not self._authorized(request, entry.api):
            entry.status = 401
            return web.json_response(self._error_body(entry.api, 401, "Incorrect API key provided."), status=401)
        d = entry.directives
        if "fail" in d:
            entry.status = int(d["fail"])
            return web.json_response(self._error_body(entry.api, entry.status, f"Simulated failure {entry.status}."), status=entry.status)
        if "429" in d or "429-once" in d:
            marker = json.dumps(entry.body.get("messages") or entry.body.get("contents"), sort_keys=True)
            with self._lock:
                first = marker not in self._seen_429
                self._seen_429.add(marker)
            if "429" in d or first:
                entry.status = 429
                return web.json_response(self._error_body(entry.api, 429, "Rate limit reached."), status=429, headers={"retry-after": "0"})
        if "hang" in d:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                entry.client_closed = True
                entry.ended_at = time.monotonic()
                raise
        return None

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    async def _sse(self, request: web.Request, entry: RequestLog, frames: Any) -> web.StreamResponse:
        """Send SSE frames with the directives' pacing and failures; record how it ended."""
        d = entry.directives
        delay = float(d.get("slow", 0) or 0)
        hang_after = int(d["hang-after"]) if "hang-after" in d else None
        malformed_after = int(d["malformed-after"]) if "malformed-after" in d else None
        close_after = int(d["early-close-after"]) if "early-close-after" in d else None
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        try:
            await response.prepare(request)
            for frame, counts in frames:
                if counts:
                    if hang_after is not None and entry.chunks_sent >= hang_after:
                        await asyncio.sleep(3600)
                    if malformed_after is not None and entry.chunks_sent >= malformed_after:
                        prefix = b"event: content_block_delta\n" if entry.api == "anthropic" else b""
                        await response.write(prefix + b'data: {"broken": \n\n')
                        await response.write_eof()
                        entry.ended_at = time.monotonic()
                        return response
                    if close_after is not None and entry.chunks_sent >= close_after:
                        entry.ended_at = time.monotonic()
                        if request.transport is not None:
                            request.transport.abort()
                        raise _ClientGone()
                    if delay:
                        await asyncio.sleep(delay)
                await response.write(frame)
                if counts:
                    entry.chunks_sent += 1
            await response.write_eof()
            entry.completed = True
        except (asyncio.CancelledError, ConnectionResetError, ConnectionError):
            entry.client_closed = True
            entry.ended_at = time.monotonic()
            raise
        except _ClientGone:
            return response
        entry.ended_at = time.monotonic()
        return response

    def _entry(self, api: str, request: web.Request, body: dict[str, Any], model: str, stream: bool) -> RequestLog:
        directives = parse_directives(_texts({k: v for k, v in body.items() if k not in ("tools",)}))
        return self._record(RequestLog(id=uuid.uuid4().hex, api=api, path=request.path, model=model, stream=stream, body=body, directives=directives))

    # -- shared ---------------------------------------------------------------------------------
    async def models_list(self, request: web.Request) -> web.Response:
        """GET /v1/models in OpenAI's, Anthropic's (anthropic-version header) or Gemini's (x-goog-api-key) shape."""
        if "x-goog-api-key" in request.headers:
            return await self.gemini_models(request)
        api = "anthropic" if "anthropic-version" in request.headers else "openai"
        if not self._authorized(request, api):
            return web.json_response(self._error_body(api, 401, "Incorrect API key provided."), status=401)
        if api == "anthropic":
            data = [{"type": "model", "id": name, "display_name": name, "created_at": "2025-01-01T00:00:00Z"} for name in self.models]
            return web.json_response({"data": data, "has_more": False, "first_id": self.models[0], "last_id": self.models[-1]})
        return web.json_response({"object": "list", "data": [{"id": name, "object": "model", "created": 1700000000, "owned_by": "fake"}
                                                             for name in self.models]})

    def _plan(self, body: dict[str, Any], directives: dict[str, str], prompt_texts: list[str], entry: RequestLog) -> dict[str, Any]:
        text = reply_pieces(directives)
        scripted = self._scripted(prompt_texts)
        if scripted is not None:
            text = [scripted[i:i + 16] for i in range(0, len(scripted), 16)] or [""]
        reasoning = reasoning_pieces(directives)
        tools = body.get("tools") or []
        results, rounds_done = tool_results_of(entry.api, body)
        entry.tool_results = results
        calls: list[tuple[str, dict[str, Any]]] = []
        if tools:
            calls = self._scripted_calls(prompt_texts, rounds_done)
            if not calls and "tool" in directives:
                first = tools[0]
                tool_name = (first.get("function") or {}).get("name") or first.get("name") or (first.get("functionDeclarations") or first.get("function_declarations") or [{}])[0].get("name")
                calls = [(tool_name, {"query": "fake"})]
        if calls:
            text = []
        completion = len(text) + len(reasoning) + 5 * len(calls)
        usage = {"prompt_tokens": prompt_token_count(prompt_texts), "completion_tokens": completion, "reasoning_tokens": len(reasoning)}
        return {"text": text, "reasoning": reasoning, "calls": calls, "usage": usage}

    # -- OpenAI ---------------------------------------------------------------------------------
    async def openai_chat(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/chat/completions."""
        body = await self._body(request)
        stream = bool(body.get("stream"))
        entry = self._entry("openai", request, body, str(body.get("model", "")), stream)
        early = await self._preflight(request, entry)
        if early is not None:
            return early
        plan = self._plan(body, entry.directives, _texts(body.get("messages", [])), entry)
        usage = plan["usage"]
        report = None if "no-usage" in entry.directives else {
            "prompt_tokens": usage["prompt_tokens"], "completion_tokens": usage["completion_tokens"],
            "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"],
            "completion_tokens_details": {"reasoning_tokens": usage["reasoning_tokens"]},
        }
        completion_id = f"chatcmpl-{entry.id[:24]}"
        created = int(time.time())
        model = entry.model
        tool_calls = [{"id": f"call_{entry.id[:8]}_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
                      for i, (name, args) in enumerate(plan["calls"])]
        finish_reason = "tool_calls" if tool_calls else "stop"
        if not stream:
            message: dict[str, Any] = {"role": "assistant", "content": "".join(plan["text"]) if not tool_calls else None}
            if plan["reasoning"]:
                message["reasoning_content"] = "".join(plan["reasoning"])
            if tool_calls:
                message["tool_calls"] = tool_calls
            entry.usage = report and usage
            entry.completed = True
            entry.chunks_sent = len(plan["text"]) + len(plan["reasoning"])
            answer: dict[str, Any] = {"id": completion_id, "object": "chat.completion", "created": created, "model": model,
                                      "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}]}
            if report:
                answer["usage"] = report
            return web.json_response(answer)

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            payload = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
            return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def frames() -> Any:
            yield chunk({"role": "assistant", "content": ""}), False
            for piece in plan["reasoning"]:
                yield chunk({"reasoning_content": piece}), True
            for piece in plan["text"]:
                yield chunk({"content": piece}), True
            for index, tool_call in enumerate(tool_calls):
                # Streamed as real servers do: the id and name first, then the arguments in pieces.
                arguments = tool_call["function"]["arguments"]
                half = len(arguments) // 2
                yield chunk({"tool_calls": [{"index": index, "id": tool_call["id"], "type": "function",
                                             "function": {"name": tool_call["function"]["name"], "arguments": ""}}]}), True
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments[:half]}}]}), True
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments[half:]}}]}), True
            yield chunk({}, finish_reason), False
            if include_usage and report:
                entry.usage = usage
                payload = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [], "usage": report}
                yield b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n", False
            yield b"data: [DONE]\n\n", False

        return await self._sse(request, entry, frames())

    async def openai_images(self, request: web.Request) -> web.Response:
        """POST /v1/images/generations: one small PNG (its colour from the prompt), token usage like gpt-image."""
        import base64

        body = await self._body(request)
        entry = self._entry("openai", request, {"messages": [{"role": "user", "content": str(body.get("prompt", ""))}], **body},
                            str(body.get("model", "")), False)
        early = await self._preflight(request, entry)
        if early is not None:
            return early
        prompt = str(body.get("prompt", ""))
        digest = hashlib.sha256(prompt.encode()).digest()
        usage = {"input_tokens": prompt_token_count([prompt]), "output_tokens": 272}
        entry.usage = {"prompt_tokens": usage["input_tokens"], "completion_tokens": 272, "reasoning_tokens": 0}
        entry.completed = True
        return web.json_response({
            "created": int(time.time()), "output_format": "png",
            "data": [{"b64_json": base64.b64encode(tiny_png(64, 40, digest[:3])).decode()}],
            "usage": {**usage, "total_tokens": usage["input_tokens"] + 272,
                      "input_tokens_details": {"image_tokens": 0, "text_tokens": usage["input_tokens"]}},
        })

    async def openai_transcriptions(self, request: web.Request) -> web.Response:
        """POST /v1/audio/transcriptions: multipart `file`; json, verbose_json or text."""
        form = await request.post()
        upload = form.get("file")
        audio = upload.file.read() if hasattr(upload, "file") else b""
        entry = self._entry("openai", request, {"bytes": len(audio), "response_format": str(form.get("response_format", "json"))},
                            str(form.get("model", "")), False)
        if not self._authorized(request, "openai"):
            entry.status = 401
            return web.json_response(self._error_body("openai", 401, "Incorrect API key provided."), status=401)
        if self.audio_delay:
            await asyncio.sleep(self.audio_delay)
        kind = audio_kind(audio)
        if kind is None:
            entry.status = 400
            return web.json_response(self._error_body("openai", 400, "Invalid file format: not audio."), status=400)
        if kind == "wav":
            duration, silent = wav_info(audio)
        else:
            duration, silent = round(len(audio) / 4000, 3), False  # about 32 kbit/s, Opus speech in webm/ogg
        text = "" if silent else self.transcript_for(audio)
        entry.body["text"] = text
        entry.completed, entry.ended_at = True, time.monotonic()
        answer_format = str(form.get("response_format", "json"))
        if answer_format == "text":
            return web.Response(text=text, content_type="text/plain")
        if answer_format == "verbose_json":
            return web.json_response({"task": "transcribe", "language": str(form.get("language", "") or "english"),
                                      "duration": duration, "text": text, "segments": []})
        return web.json_response({"text": text})

    async def openai_speech(self, request: web.Request) -> web.Response:
        """POST /v1/audio/speech: a short WAV (10 ms of tone per character, at most 3 s)."""
        body = await self._body(request)
        text = str(body.get("input", ""))
        entry = self._entry("openai", request, {"messages": [{"role": "user", "content": text}], **body}, str(body.get("model", "")), False)
        early = await self._preflight(request, entry)
        if early is not None:
            return early
        if self.audio_delay:
            await asyncio.sleep(self.audio_delay)
        frequency = 300 + hashlib.sha256(text.encode()).digest()[0] * 2
        audio = tone_wav(min(3.0, 0.01 * max(1, len(text))), frequency)
        entry.completed, entry.ended_at = True, time.monotonic()
        return web.Response(body=audio, content_type="audio/wav")

    async def openai_embeddings(self, request: web.Request) -> web.Response:
        """POST /v1/embeddings: deterministic unit vectors."""
        body = await self._body(request)
        entry = self._entry("openai", request, body, str(body.get("model", "")), False)
        if not self._authorized(request, "openai"):
            entry.status = 401
            return web.json_response(self._error_body("openai", 401, "Incorrect API key provided."), status=401)
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        dimensions = int(body.get("dimensions") or 384)
        data = [{"object": "embedding", "index": i, "embedding": fake_embedding(str(text), dimensions)} for i, text in enumerate(texts)]
        tokens = sum(len(str(text).split()) for text in texts)
        entry.completed = True
        return web.json_response({"object": "list", "data": data, "model": entry.model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    # -- Anthropic ------------------------------------------------------------------------------
    async def anthropic_messages(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/messages."""
        body = await self._body(request)
        stream = bool(body.get("stream"))
        entry = self._entry("anthropic", request, body, str(body.get("model", "")), stream)
        early = await self._preflight(request, entry)
        if early is not None:
            return early
        plan = self._plan(body, entry.directives, _texts(body.get("messages", [])) + _texts(body.get("system", "")), entry)
        usage = plan["usage"]
        no_usage = "no-usage" in entry.directives
        message_id = f"msg_{entry.id[:24]}"
        stop_reason = "tool_use" if plan["calls"] else "end_turn"
        tool_ids = [f"toolu_{entry.id[:8]}_{i}" for i in range(len(plan["calls"]))]
        if not stream:
            content: list[dict[str, Any]] = []
            if plan["reasoning"]:
                content.append({"type": "thinking", "thinking": "".join(plan["reasoning"]), "signature": "fake-signature"})
            if plan["text"]:
                content.append({"type": "text", "text": "".join(plan["text"])})
            for tool_id, (name, args) in zip(tool_ids, plan["calls"], strict=True):
                content.append({"type": "tool_use", "id": tool_id, "name": name, "input": args})
            answer = {"id": message_id, "type": "message", "role": "assistant", "model": entry.model, "content": content,
                      "stop_reason": stop_reason, "stop_sequence": None,
                      "usage": {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]}}
            entry.usage = usage
            entry.completed = True
            return web.json_response(answer)

        def event(kind: str, data: dict[str, Any]) -> bytes:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **data}, separators=(',', ':'))}\n\n".encode()

        def frames() -> Any:
            start_usage = {} if no_usage else {"usage": {"input_tokens": usage["prompt_tokens"], "output_tokens": 1}}
            yield event("message_start", {"message": {"id": message_id, "type": "message", "role": "assistant", "model": entry.model,
                                                      "content": [], "stop_reason": None, "stop_sequence": None, **start_usage}}), False
            index = 0
            if plan["reasoning"]:
                yield event("content_block_start", {"index": index, "content_block": {"type": "thinking", "thinking": ""}}), False
                for piece in plan["reasoning"]:
                    yield event("content_block_delta", {"index": index, "delta": {"type": "thinking_delta", "thinking": piece}}), True
                yield event("content_block_delta", {"index": index, "delta": {"type": "signature_delta", "signature": "fake-signature"}}), False
                yield event("content_block_stop", {"index": index}), False
                index += 1
            if plan["text"]:
                yield event("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}}), False
                yield event("ping", {}), False
                for piece in plan["text"]:
                    yield event("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": piece}}), True
                yield event("content_block_stop", {"index": index}), False
                index += 1
            for tool_id, (name, args) in zip(tool_ids, plan["calls"], strict=True):
                arguments = json.dumps(args)
                half = len(arguments) // 2
                yield event("content_block_start", {"index": index, "content_block": {"type": "tool_use", "id": tool_id, "name": name, "input": {}}}), False
                yield event("content_block_delta", {"index": index, "delta": {"type": "input_json_delta", "partial_json": arguments[:half]}}), True
                yield event("content_block_delta", {"index": index, "delta": {"type": "input_json_delta", "partial_json": arguments[half:]}}), True
                yield event("content_block_stop", {"index": index}), False
                index += 1
            if not no_usage:
                entry.usage = usage
            delta_usage = {} if no_usage else {"usage": {"output_tokens": usage["completion_tokens"]}}
            yield event("message_delta", {"delta": {"stop_reason": stop_reason, "stop_sequence": None}, **delta_usage}), False
            yield event("message_stop", {}), False

        return await self._sse(request, entry, frames())

    # -- Gemini ---------------------------------------------------------------------------------
    async def gemini_models(self, request: web.Request) -> web.Response:
        """GET /v1beta/models (and /v1/models for Gemini clients)."""
        if not self._authorized(request, "gemini"):
            return web.json_response(self._error_body("gemini", 401, "API key not valid."), status=401)
        models = [{"name": f"models/{name}", "displayName": name, "supportedGenerationMethods": ["generateContent"],
                   "inputTokenLimit": 1048576, "outputTokenLimit": 65536} for name in self.models]
        return web.json_response({"models": models})

    async def gemini_generate(self, request: web.Request) -> web.StreamResponse:
        """POST /v1beta/models/{model}:generateContent and :streamGenerateContent."""
        body = await self._body(request)
        method = request.match_info["method"]
        stream = method == "streamGenerateContent"
        entry = self._entry("gemini", request, body, request.match_info["model"], stream)
        if method not in ("generateContent", "streamGenerateContent"):
            return web.json_response(self._error_body("gemini", 404, "Unknown method."), status=404)
        early = await self._preflight(request, entry)
        if early is not None:
            return early
        prompt_texts = _texts(body.get("contents", [])) + _texts(body.get("systemInstruction") or body.get("system_instruction") or {})
        plan = self._plan(body, entry.directives, prompt_texts, entry)
        usage = plan["usage"]
        no_usage = "no-usage" in entry.directives

        def metadata(candidates: int, thoughts: int) -> dict[str, Any]:
            return {"promptTokenCount": usage["prompt_tokens"], "candidatesTokenCount": candidates, "thoughtsTokenCount": thoughts,
                    "totalTokenCount": usage["prompt_tokens"] + candidates + thoughts}

        candidates_total = usage["completion_tokens"] - usage["reasoning_tokens"]
        finish = "STOP"
        if not stream:
            parts: list[dict[str, Any]] = []
            if plan["reasoning"]:
                parts.append({"text": "".join(plan["reasoning"]), "thought": True})
            if plan["text"]:
                parts.append({"text": "".join(plan["text"])})
            for name, args in plan["calls"]:
                parts.append({"functionCall": {"name": name, "args": args}})
            answer: dict[str, Any] = {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}],
                                      "modelVersion": entry.model}
            if not no_usage:
                answer["usageMetadata"] = metadata(candidates_total, usage["reasoning_tokens"])
                entry.usage = usage
            entry.completed = True
            return web.json_response(answer)

        def frame(parts: list[dict[str, Any]], *, candidates: int, thoughts: int, last: bool = False) -> bytes:
            payload: dict[str, Any] = {"candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}], "modelVersion": entry.model}
            if last:
                payload["candidates"][0]["finishReason"] = finish
            if not no_usage:
                payload["usageMetadata"] = metadata(candidates, thoughts)
            return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\r\n\r\n"

        def frames() -> Any:
            thoughts = 0
            for piece in plan["reasoning"]:
                thoughts += 1
                yield frame([{"text": piece, "thought": True}], candidates=0, thoughts=thoughts), True
            produced = 0
            for piece in plan["text"]:
                produced += 1
                yield frame([{"text": piece}], candidates=produced, thoughts=thoughts), True
            if not no_usage:
                entry.usage = usage
            last_parts = [{"functionCall": {"name": name, "args": args}} for name, args in plan["calls"]] or [{"text": ""}]
            yield frame(last_parts, candidates=candidates_total, thoughts=thoughts, last=True), bool(plan["calls"])

        return await self._sse(request, entry, frames())


def main() -> None:
    """Serve in the foreground (benchmarks run it as its own process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="test-key")
    args = parser.parse_args()
    server = FakeLlmServer(api_key=args.api_key, host=args.host, port=args.port)
    server.keep_log = False  # a long benchmark run would grow the log without bound

    async def serve() -> None:
        await server._start()
        print(f"READY {server.url}", flush=True)
        await asyncio.Event().wait()

    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve())


if __name__ == "__main__":
    main()
