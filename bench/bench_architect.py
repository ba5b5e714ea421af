"""Assistant Architect chain orchestration against the loopback fake provider, one daphne, one real worker.

- `enqueue_to_first_event`: `POST /api/v1/architect/execute` of a one-prompt tool until the client
  reads the first SSE event (`execution_started`), p50/p95; and the server's own split
  `enqueue_to_start` = the execution row's `started_at - created_at` (row written by the web
  process, claimed by the worker after the Celery hop).
- `chain_10`: a 10-prompt chain (10 positions, each using the previous output); wall time from
  `execution_started` to `execution_complete`, and per-prompt overhead = that time / 10 minus one
  direct streamed call to the fake for the same reply size (what the provider itself costs).

Target (issue "Assistant Architect"): enqueue -> start p50 <= 10 ms.
"""
from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Any

import aiohttp

from bench.harness import BenchContext, percentiles

FAKE_KEY = "bench-fake-key"
WARMUP = 5
SINGLE_RUNS = 60
CHAIN_RUNS = 10
CHAIN_LENGTH = 10


def _setup(ctx: BenchContext, fake_url: str) -> dict[str, str]:
    code = f"""
from decimal import Decimal
from apps.accounts.models import Tier
from apps.accounts import services as accounts
from apps.llm import services
from apps.llm.models import ProviderConnection
from apps.architect import services as architect
from django.contrib.auth import get_user_model
Tier.objects.filter(slug="free").update(architect_rpm=100000, architect_concurrent=1000, architect_prompts_per_hour=10**9, api_rpm=100000)
if not ProviderConnection.objects.filter(name="bench-arch-fake").exists():
    provider = services.provider_create(name="bench-arch-fake", kind="openai", base_url="{fake_url}/v1", api_key="{FAKE_KEY}", timeout_seconds=60)
    services.model_create(name="bench-arch-model", provider=provider, provider_model="fake-model", capabilities=["chat"],
                          input_cost=Decimal("1"), output_cost=Decimal("1"), context_window=100000, max_output_tokens=200, tiers=[])
User = get_user_model()
user = User.objects.filter(email="architect-bench@example.com").first() or User.objects.create_user(email="architect-bench@example.com", password="x-bench-pass-123")
_key, raw = accounts.api_key_create(user=user, name="bench", scopes=["*"])
single = architect.tool_create(user=user, name="bench single", status="published",
    input_fields=[{{"name": "topic"}}], prompts=[{{"name": "only", "position": 1, "model_id": "bench-arch-model", "content": "{{{{topic}}}} #words=3"}}])
prompts = [{{"name": "p1", "position": 1, "model_id": "bench-arch-model", "content": "{{{{topic}}}} #words=3"}}]
prompts += [{{"name": f"p{{i}}", "position": i, "model_id": "bench-arch-model", "content": "{{{{" + f"p{{i - 1}}" + "}}}} #words=3"}} for i in range(2, {CHAIN_LENGTH} + 1)]
chain = architect.tool_create(user=user, name="bench chain", status="published", input_fields=[{{"name": "topic"}}], prompts=prompts)
print("KEY=" + raw)
print("SINGLE=" + str(single.pk))
print("CHAIN=" + str(chain.pk))
"""
    out = ctx.django_shell(code)
    return dict(line.split("=", 1) for line in out.splitlines() if line[:4] in ("KEY=", "SING", "CHAI"))


async def _execute(session: aiohttp.ClientSession, url: str, key: str, tool_id: str) -> tuple[str, float, float | None, str]:
    """Run one execution; returns (id, seconds to the first event, seconds from first to final event, final type)."""
    started = time.perf_counter()
    first_at: float | None = None
    final_type = ""
    async with session.post(f"{url}/api/v1/architect/execute", json={"tool_id": tool_id, "inputs": {"topic": "bench"}},
                            headers={"Authorization": f"Bearer {key}"}) as response:
        assert response.status == 200, await response.text()
        execution_id = response.headers["X-Execution-Id"]
        async for raw in response.content:
            line = raw.decode().strip()
            if not line.startswith("data:"):
                continue
            event = json.loads(line[5:])
            now = time.perf_counter()
            if first_at is None:
                first_at = now
            if event["type"] in ("execution_complete", "execution_failed", "execution_cancelled"):
                final_type = event["type"]
                return execution_id, first_at - started, now - first_at, final_type
    raise RuntimeError("stream ended without a final event")


async def _server_split(session: aiohttp.ClientSession, url: str, key: str, execution_id: str) -> float:
    async with session.get(f"{url}/api/v1/architect/executions/{execution_id}", headers={"Authorization": f"Bearer {key}"}) as response:
        body = await response.json()
    return (datetime.fromisoformat(body["started_at"]) - datetime.fromisoformat(body["created_at"])).total_seconds()


async def _provider_call(session: aiohttp.ClientSession, fake_url: str) -> float:
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "x #words=3"}], "stream": True,
            "stream_options": {"include_usage": True}}
    started = time.perf_counter()
    async with session.post(f"{fake_url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {FAKE_KEY}"}) as response:
        await response.read()
    return time.perf_counter() - started


async def _measure(url: str, key: str, ids: dict[str, str], fake_url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        for _ in range(WARMUP):
            await _execute(session, url, key, ids["SINGLE"])
        await _execute(session, url, key, ids["CHAIN"])
        first_events, splits, failures = [], [], 0
        for _ in range(SINGLE_RUNS):
            execution_id, to_first, _rest, final = await _execute(session, url, key, ids["SINGLE"])
            failures += final != "execution_complete"
            first_events.append(to_first)
            splits.append(await _server_split(session, url, key, execution_id))
        chains = []
        for _ in range(CHAIN_RUNS):
            _id, _first, rest, final = await _execute(session, url, key, ids["CHAIN"])
            failures += final != "execution_complete"
            chains.append(rest or 0.0)
        provider = [await _provider_call(session, fake_url) for _ in range(30)]
    provider_p50 = sorted(provider)[len(provider) // 2]
    per_prompt = [max(0.0, chain / CHAIN_LENGTH - provider_p50) for chain in chains]
    return {
        "enqueue_to_first_event": percentiles(first_events),
        "enqueue_to_start": percentiles(splits),
        "chain_10": {"wall": percentiles(chains), "per_prompt_overhead": percentiles(per_prompt),
                     "provider_call_p50_ms": round(provider_p50 * 1000, 3)},
        "failed_executions": failures,
    }


def run(ctx: BenchContext) -> dict[str, Any]:
    """The chain orchestration benchmark; see the module docstring."""
    fake_url = ctx.start_fake_llm(FAKE_KEY)
    ids = _setup(ctx, fake_url)
    url = ctx.start_daphne()
    ctx.start_worker(queues="llm,default", concurrency=2)
    result: dict[str, Any] = {"targets": {"enqueue_to_start_p50_ms": "<= 10"}, "worker_concurrency": 2,
                              "single_runs": SINGLE_RUNS, "chain_runs": CHAIN_RUNS}
    result.update(asyncio.run(_measure(url, ids["KEY"], ids, fake_url)))
    return result
