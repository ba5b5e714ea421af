"""Chat streaming on one daphne process against the loopback fake provider.

- `streams`: N concurrent `POST /api/v1/chat` replies; the gap between consecutive text chunks as
  the client sees it, minus the provider's own gap (`#slow`), p50/p95; bytes on the wire per
  reply divided by the bytes the provider sent for the same reply (measured by calling the fake
  directly); daphne's resident memory growth per open stream.
- `stop`: a long reply stopped mid-way: time from `POST /stop` to the reply's final event (the
  generation closes the upstream call before it publishes that event), and misses (a reply still
  running 20 s after its stop). `CHAT_STOP_ROUNDS=80 CHAT_STOP_BACKGROUND=30` runs a longer set
  while 30 other replies stream (`CHAT_STOP_ONLY=1`: only the stop rounds).

Targets (issue "Chat"): gap overhead p95 <= 25 ms, bytes <= 1.2x, stop <= 1 s.
"""
from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import aiohttp

from bench.harness import BenchContext, percentiles

# (concurrent streams, words per reply, seconds between the provider's chunks): the 500
# streams at a provider pace one process can carry, and a faster pace with fewer streams.
SCENARIOS = [(500, 40, 0.5), (100, 40, 0.1)]
# Streams are opened at this rate (a burst of 500 requests in the same instant is a different test:
# every request then wants a database connection at once).
OPEN_PER_SECOND = 50
FAKE_KEY = "bench-fake-key"


def _setup(ctx: BenchContext, fake_url: str) -> str:
    code = f"""
from decimal import Decimal
from apps.accounts.models import Tier
from apps.accounts import services as accounts
from apps.llm import services
from apps.llm.models import LlmModel, ProviderConnection
from django.contrib.auth import get_user_model
Tier.objects.filter(slug="free").update(chat_concurrent=10000, chat_rpm=100000, api_rpm=100000, chat_tokens_per_hour=10**9)
# `make bench` runs every bench on one database: the gateway bench may have made this provider, on its own fake.
provider = ProviderConnection.objects.filter(name="bench-fake").first()
if provider is None:
    provider = services.provider_create(name="bench-fake", kind="openai", base_url="{fake_url}/v1", api_key="{FAKE_KEY}", timeout_seconds=60)
else:
    provider = services.provider_update(provider=provider, base_url="{fake_url}/v1", api_key="{FAKE_KEY}", timeout_seconds=60)
if not LlmModel.objects.filter(name="bench-model").exists():
    services.model_create(name="bench-model", provider=provider, provider_model="fake-model", capabilities=["chat"],
                          input_cost=Decimal("100"), output_cost=Decimal("400"), context_window=100000, max_output_tokens=4000, tiers=[])
User = get_user_model()
user = User.objects.filter(email="chat-bench@example.com").first() or User.objects.create_user(email="chat-bench@example.com", password="x-bench-pass-123")
import uuid as _uuid
from apps.billing.services import credit_grant
credit_grant(account_or_user=user, amount=10**7, reference="bench", idempotency_key="bench-" + _uuid.uuid4().hex)  # holds must not run out
_key, raw = accounts.api_key_create(user=user, name="bench", scopes=["*"])
print("KEY=" + raw)
"""
    out = ctx.django_shell(code)
    return next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("KEY="))


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def _provider_bytes(fake_url: str, prompt: str) -> int:
    body = {"model": "fake-model", "messages": [{"role": "user", "content": prompt}], "stream": True,
            "stream_options": {"include_usage": True}}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{fake_url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {FAKE_KEY}"}) as response:
            return len(await response.read())


async def _one_stream(session: aiohttp.ClientSession, url: str, key: str, prompt: str, gaps: list[float], steady: list[float],
                      sizes: list[int], opened: asyncio.Event, counter: list[int], streams: int, delay: float = 0.0) -> None:
    await asyncio.sleep(delay)
    body = {"messages": [{"role": "user", "content": prompt}], "model_id": "bench-model"}
    async with session.post(f"{url}/api/v1/chat", json=body, headers={"Authorization": f"Bearer {key}"}) as response:
        if response.status != 200:
            raise RuntimeError(f"chat answered {response.status}: {await response.text()}")
        counter[0] += 1
        counter[1] += 1
        counter[2] = max(counter[2], counter[1])
        if counter[0] == streams:
            opened.set()
        size = 0
        last: float | None = None
        async for line in response.content:
            size += len(line)
            if line.startswith(b"data: ") and b'"text-delta"' in line:
                now = time.perf_counter()
                if last is not None:
                    gaps.append(now - last)
                    if opened.is_set():
                        steady.append(now - last)
                last = now
        sizes.append(size)
        counter[1] -= 1
        if last is None:  # no text at all: the reply failed (a benchmark of error events measures nothing)
            raise RuntimeError(f"a chat reply had no text ({size} bytes)")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _streams(url: str, key: str, fake_url: str, daphne_pid: int, streams: int, words: int, gap: float,
                   fake_pid: int | None = None) -> dict[str, Any]:
    prompt = f"bench #words={words} #slow={gap}"
    provider_bytes = await _provider_bytes(fake_url, prompt)
    gaps: list[float] = []
    steady: list[float] = []  # gaps once every stream is open (no new chat being started meanwhile)
    sizes: list[int] = []
    opened = asyncio.Event()
    counter = [0, 0, 0]  # opened, open now, most open at once
    rss_before = _rss_kb(daphne_pid)
    # Where the time goes: daphne, the fake provider and this client share the machine's cores.
    pids = {"daphne": daphne_pid, "client": os.getpid(), **({"provider": fake_pid} if fake_pid else {})}
    cpu_before = {name: _cpu_seconds(pid) for name, pid in pids.items()}
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=600)
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(_one_stream(session, url, key, prompt, gaps, steady, sizes, opened, counter, streams,
                                                 i / OPEN_PER_SECOND))
                 for i in range(streams)]
        peak = rss_before
        while not all(task.done() for task in tasks):
            peak = max(peak, _rss_kb(daphne_pid))
            await asyncio.sleep(0.2)
        results = await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.perf_counter() - started
    cpu_share = {name: round((_cpu_seconds(pid) - cpu_before[name]) / wall, 2) for name, pid in pids.items()}
    errors = [repr(result) for result in results if isinstance(result, Exception)]
    overhead = [max(0.0, seen - gap) for seen in gaps]
    return {
        "streams": streams,
        "opened_per_second": OPEN_PER_SECOND,
        "peak_open_streams": counter[2],
        "completed": len(sizes),
        "errors": errors[:5],
        "error_count": len(errors),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "provider_gap_ms": gap * 1000,
        "provider_events_per_second": round(streams / gap),
        "client_gap": percentiles(gaps),
        "gap_overhead": percentiles(overhead),
        "gap_overhead_all_open": percentiles(max(0.0, seen - gap) for seen in steady),
        "bytes_per_reply": round(sum(sizes) / max(1, len(sizes))),
        "provider_bytes_per_reply": provider_bytes,
        "bytes_ratio": round((sum(sizes) / max(1, len(sizes))) / provider_bytes, 3),
        "daphne_rss_kb_before": rss_before,
        "daphne_rss_kb_peak": peak,
        "memory_per_stream_kb": round((peak - rss_before) / streams, 1),
        "cpu_cores_used": cpu_share,  # CPU seconds per wall second of each process during the scenario
    }


async def _background_replies(session: aiohttp.ClientSession, url: str, key: str, streams: int, done: asyncio.Event) -> None:
    """Short replies streamed back to back on `streams` connections: load for the stop rounds."""
    headers = {"Authorization": f"Bearer {key}"}

    async def one() -> None:
        while not done.is_set():
            body = {"messages": [{"role": "user", "content": "load #words=60 #slow=0.05"}], "model_id": "bench-model"}
            async with session.post(f"{url}/api/v1/chat", json=body, headers=headers) as response:
                async for _ in response.content:
                    pass

    await asyncio.gather(*(one() for _ in range(streams)))


async def _stop_and_wait(session: aiohttp.ClientSession, response: aiohttp.ClientResponse, url: str, conversation: str,
                         headers: dict[str, str], stop_at: int) -> float:
    """Read the reply's events, stop it at event `stop_at`, return when the stop was sent once its final event came."""
    seen, stop_sent = 0, 0.0
    async for line in response.content:
        if not line.startswith(b"data: "):
            continue
        data = json.loads(line[6:])
        seen += 1
        if seen == stop_at:
            stop_sent = time.perf_counter()
            async with session.post(f"{url}/api/v1/conversations/{conversation}/stop", headers=headers) as stop:
                assert stop.status == 202, await stop.text()
        if data["type"] in ("finish", "error"):
            break
    return stop_sent


async def _stop_latency(url: str, key: str, rounds: int = 10, background: int = 0) -> dict[str, Any]:
    """Stop a long reply mid-way `rounds` times (meanwhile `background` other replies stream); a stop
    whose reply has not ended 20 s later is a miss (the reply would have run to its end)."""
    latencies: list[float] = []
    misses = 0
    headers = {"Authorization": f"Bearer {key}"}
    done = asyncio.Event()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        load = asyncio.ensure_future(_background_replies(session, url, key, background, done))
        for round_ in range(rounds):
            body = {"messages": [{"role": "user", "content": "stop me #words=2000 #slow=0.02"}], "model_id": "bench-model"}
            async with session.post(f"{url}/api/v1/chat", json=body, headers=headers) as response:
                conversation = response.headers["X-Conversation-Id"]
                stop_at = 10 + round_ % 7  # not always the same moment of the reply (right after a poll waits longest)
                try:
                    stop_sent = await asyncio.wait_for(_stop_and_wait(session, response, url, conversation, headers, stop_at), timeout=20)
                    latencies.append(time.perf_counter() - stop_sent)
                except TimeoutError:
                    misses += 1
        done.set()
        await asyncio.wait_for(load, timeout=60)
    return {"rounds": rounds, "background_streams": background, "misses": misses, "stop_to_final_event": percentiles(latencies)}


def run(ctx: BenchContext) -> dict[str, Any]:
    """Both chat benchmarks; see the module docstring."""
    fake_url = ctx.start_fake_llm(FAKE_KEY)
    fake_pid = ctx.processes[-1].pid
    key = _setup(ctx, fake_url)
    url = ctx.start_daphne()
    daphne_pid = ctx.processes[-1].pid
    result: dict[str, Any] = {"targets": {"gap_overhead_p95_ms": "<= 25", "bytes_ratio": "<= 1.2", "stop_s": "<= 1"}}
    result["streams"] = []
    for streams, words, gap in ([] if os.environ.get("CHAT_STOP_ONLY") else SCENARIOS):
        figures = asyncio.run(_streams(url, key, fake_url, daphne_pid, streams, words, gap, fake_pid))
        if figures["error_count"]:
            logs = sorted(ctx.tmp.glob("daphne-*.log"), key=lambda path: path.stat().st_mtime)
            errors = [line for line in logs[-1].read_text(errors="replace").splitlines() if "Error" in line]
            figures["server_errors"] = errors[-5:]
        result["streams"].append(figures)
    # CHAT_STOP_ROUNDS / CHAT_STOP_BACKGROUND: a longer stop run under load (80 and 30 found the
    # swallowed-cancel defect: 8 misses before the fix, 0 after).
    result["stop"] = asyncio.run(_stop_latency(url, key, rounds=int(os.environ.get("CHAT_STOP_ROUNDS", "10")),
                                               background=int(os.environ.get("CHAT_STOP_BACKGROUND", "0"))))
    return result
