"""Voice turns over WS /ws/voice/{id} on one daphne process against the loopback fake provider.

The figure: time from the client's `audio:end` to the first `audio:response` chunk, minus the fake
provider's own time for the same work on that path (measured in the same round by calling the fake
directly: the transcription, the chat stream to its end, the speech of the first sentence). What is
left is what Nexus adds: reading the audio, holds and settlements, storing the turn, the stream
hop, splitting sentences. Sequential turns on one session, then several sessions at once.

Target (issue 19): p95 <= 150 ms.
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from bench.harness import BenchContext, percentiles
from tests.fakes.llm_server import tone_wav

FAKE_KEY = "bench-fake-key"
ROUNDS = 40
CONCURRENT_SESSIONS, CONCURRENT_ROUNDS = 8, 5


def _setup(ctx: BenchContext, fake_url: str) -> tuple[list[str], str]:
    code = f"""
from decimal import Decimal
from apps.accounts.models import Tier
from apps.accounts import services as accounts
from apps.llm import services
from apps.llm.models import ProviderConnection
from django.contrib.auth import get_user_model
Tier.objects.update(chat_concurrent=10000, chat_rpm=100000, api_rpm=100000, chat_tokens_per_hour=10**9)
if not ProviderConnection.objects.filter(name="bench-voice-fake").exists():
    provider = services.provider_create(name="bench-voice-fake", kind="openai", base_url="{fake_url}/v1", api_key="{FAKE_KEY}",
                                        timeout_seconds=60)
    services.model_create(name="bench-voice-chat", provider=provider, provider_model="fake-model", capabilities=["chat"],
                          input_cost=Decimal("100"), output_cost=Decimal("400"), context_window=100000, max_output_tokens=4000, tiers=[])
    services.model_create(name="bench-voice-stt", provider=provider, provider_model="fake-whisper", capabilities=["stt"],
                          audio_cost_per_minute=Decimal("0.6"))
    services.model_create(name="bench-voice-tts", provider=provider, provider_model="fake-speech", capabilities=["tts"],
                          input_cost=Decimal("1500"))
from apps.llm.models import LlmModel
import uuid as _uuid
from apps.billing.services import credit_grant
User = get_user_model()
for number in range({CONCURRENT_SESSIONS}):
    email = f"voice-bench-{{number}}@example.com"
    user = User.objects.filter(email=email).first() or User.objects.create_user(email=email, password="x-bench-pass-123")
    credit_grant(account_or_user=user, amount=10**7, reference="bench", idempotency_key="bench-" + _uuid.uuid4().hex)
    _key, raw = accounts.api_key_create(user=user, name="bench", scopes=["*"])
    print("KEY=" + raw)
print("CHAT=" + str(LlmModel.objects.get(name="bench-voice-chat").pk))
"""
    out = ctx.django_shell(code)
    keys = [line.split("=", 1)[1] for line in out.splitlines() if line.startswith("KEY=")]
    chat = next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("CHAT="))
    return keys, chat


async def _direct(http: aiohttp.ClientSession, fake_url: str, audio: bytes) -> float:
    """The fake's own time for one turn's critical path: transcription, the chat stream, the first sentence's speech."""
    headers = {"Authorization": f"Bearer {FAKE_KEY}"}
    started = time.perf_counter()
    form = aiohttp.FormData()
    form.add_field("file", audio, filename="audio.wav", content_type="audio/wav")
    form.add_field("model", "fake-whisper")
    form.add_field("response_format", "verbose_json")
    async with http.post(f"{fake_url}/v1/audio/transcriptions", data=form, headers=headers) as response:
        text = (await response.json())["text"]
    body = {"model": "fake-model", "messages": [{"role": "user", "content": text}], "stream": True, "stream_options": {"include_usage": True}}
    reply = []
    async with http.post(f"{fake_url}/v1/chat/completions", json=body, headers=headers) as response:
        async for line in response.content:
            if line.startswith(b"data: {"):
                for choice in json.loads(line[6:]).get("choices", []):
                    reply.append((choice.get("delta") or {}).get("content") or "")
    speech = {"model": "fake-speech", "input": "".join(reply), "voice": "alloy", "response_format": "wav"}
    async with http.post(f"{fake_url}/v1/audio/speech", json=speech, headers=headers) as response:
        await response.read()
    return time.perf_counter() - started


async def _session(http: aiohttp.ClientSession, url: str, key: str, chat_id: str) -> str:
    async with http.post(f"{url}/api/v1/voice/sessions", json={"config": {"chat_model_id": chat_id}},
                         headers={"Authorization": f"Bearer {key}"}) as response:
        if response.status != 201:
            raise RuntimeError(f"session answered {response.status}: {await response.text()}")
        return (await response.json())["id"]


async def _turns(http: aiohttp.ClientSession, url: str, key: str, chat_id: str, fake_url: str, rounds: int, seed: int,
                 seen: list[float], overhead: list[float], errors: list[str]) -> None:
    session_id = await _session(http, url, key, chat_id)
    async with http.ws_connect(f"{url.replace('http://', 'ws://')}/ws/voice/{session_id}?token={key}") as socket:
        await socket.receive_json()  # connected
        for index in range(rounds):
            audio = tone_wav(1.0, 300 + seed * 37 + index * 11)
            direct = await _direct(http, fake_url, audio)
            await socket.send_json({"type": "audio:start", "data": {"format": "wav"}})
            await socket.send_bytes(audio)
            ended = time.perf_counter()
            await socket.send_json({"type": "audio:end"})
            first: float | None = None
            while True:
                event = await socket.receive_json(timeout=60)
                if event["type"] == "audio:response" and first is None:
                    first = time.perf_counter() - ended
                if event["type"] == "error":
                    errors.append(json.dumps(event)[:300])
                    break
                if event["type"] == "turn:complete":
                    break
            if first is not None:
                seen.append(first)
                overhead.append(max(0.0, first - direct))


async def _scenario(url: str, keys: list[str], chat_id: str, fake_url: str, sessions: int, rounds: int) -> dict[str, Any]:
    """`sessions` people (one user each) taking `rounds` turns at once."""
    seen: list[float] = []
    overhead: list[float] = []
    errors: list[str] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http:
        await asyncio.gather(*(_turns(http, url, keys[seed], chat_id, fake_url, rounds, seed, seen, overhead, errors)
                               for seed in range(sessions)))
    return {"sessions": sessions, "turns_per_session": rounds, "errors": errors[:5], "error_count": len(errors),
            "audio_end_to_first_audio": percentiles(seen), "overhead_over_fake": percentiles(overhead)}


def run(ctx: BenchContext) -> dict[str, Any]:
    """Sequential turns on one session, then several sessions at once; see the module docstring."""
    fake_url = ctx.start_fake_llm(FAKE_KEY)
    keys, chat_id = _setup(ctx, fake_url)
    url = ctx.start_daphne()
    result: dict[str, Any] = {"targets": {"overhead_over_fake_p95_ms": "<= 150"}}
    result["sequential"] = asyncio.run(_scenario(url, keys, chat_id, fake_url, 1, ROUNDS))
    result["concurrent"] = asyncio.run(_scenario(url, keys, chat_id, fake_url, CONCURRENT_SESSIONS, CONCURRENT_ROUNDS))
    return result
