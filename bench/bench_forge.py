"""Forge progress over WebSockets: 200 clients watching builds through one daphne, message lag percentiles.

20 builds are watched by 10 clients each (`WS /ws/forge/{id}?token=`). A publisher thread appends
`progress_update` events to each build's `core.streams` stream (what a build worker does), 20 per
second per build, each stamped with the time it was published; every client notes when each
message arrives. Lag = arrival - publication, over every message of every client; the final
`build_completed` closes the sockets. Measured in a child process with Django set up on the
bench database (the publisher uses the real `core.streams.publish`).

Also `cancel`: builds on a real worker whose provider call hangs (the loopback fake's `#hang`) are
cancelled with `DELETE /api/v1/forge/builds/{id}`; the time from the DELETE's answer until the
build reads `cancelled` (polled every 10 ms), p50/max over CANCEL_RUNS.

Targets (issue 16): message lag p95 <= 50 ms; a running build stops within 2 s of its cancel.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.harness import BenchContext, percentiles

ROOT = Path(__file__).resolve().parent.parent
BUILDS = 20
CLIENTS_PER_BUILD = 10
EVENTS_PER_BUILD = 60
EVENT_INTERVAL_SECONDS = 0.05
CANCEL_RUNS = 5
FAKE_KEY = "bench-forge-fake-key"


def run(ctx: BenchContext) -> dict[str, Any]:
    """Start daphne, then measure in a child process with Django set up; see the module docstring."""
    url = ctx.start_daphne(FORGE_FREE_BUILDS_PER_HOUR="100000")
    figures = _child(ctx, "watch", BENCH_FORGE_URL=url)
    # Then the cancel measurement, with a worker and the fake provider (not running during the lag figures).
    fake_url = ctx.start_fake_llm(FAKE_KEY)
    ctx.start_worker(queues="builds,default", concurrency=2)
    figures.update(_child(ctx, "cancel", BENCH_FORGE_URL=url, BENCH_FORGE_FAKE_URL=fake_url))
    return {"targets": {"message_lag_p95_ms": "<= 50", "cancel_to_cancelled_max_ms": "<= 2000"}, "clients": BUILDS * CLIENTS_PER_BUILD, "builds": BUILDS,
            "events_per_build": EVENTS_PER_BUILD, "event_interval_s": EVENT_INTERVAL_SECONDS, **figures}


def _child(ctx: BenchContext, mode: str, **env: str) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "bench.bench_forge", mode], cwd=ROOT, env={**ctx.env, **env},
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _setup() -> tuple[str, list[str]]:
    from django.contrib.auth import get_user_model

    from apps.accounts import services as accounts
    from apps.forge.models import Build

    user = get_user_model().objects.create_user(email=f"forge-bench-{time.time_ns()}@example.com", password="x-bench-pass-123")
    _key, raw = accounts.api_key_create(user=user, name="bench", scopes=["*"])
    builds = [Build.objects.create(owner=user, prompt="bench", status="building", model_name="bench") for _ in range(BUILDS)]
    return raw, [str(build.pk) for build in builds]


def _publish(build_ids: list[str], ready: threading.Event) -> None:
    from apps.core.streams import publish
    from apps.forge.selectors import build_stream_key

    ready.wait()
    for n in range(1, EVENTS_PER_BUILD + 1):
        tick = time.perf_counter()
        for build_id in build_ids:
            final = n == EVENTS_PER_BUILD
            kind = "build_completed" if final else "progress_update"
            publish(build_stream_key(build_id), {"type": kind, "data": {"phase": "building", "progress": n, "message": "bench",
                                                                       "sent_at": time.time()}}, final=final)
        time.sleep(max(0.0, EVENT_INTERVAL_SECONDS - (time.perf_counter() - tick)))


async def _watch(url: str, key: str, build_ids: list[str]) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    lags: list[float] = []
    received = 0
    ready = threading.Event()
    connected = 0
    all_connected = asyncio.Event()

    # Channels' AllowedHostsOriginValidator refuses a handshake without an Origin outside DEBUG-style "*" hosts.
    async def client(build_id: str) -> None:
        nonlocal received, connected
        async with connect(f"{url.replace('http://', 'ws://')}/ws/forge/{build_id}?token={key}", open_timeout=60,
                           max_queue=None, origin=url) as socket:
            hello = json.loads(await socket.recv())
            assert hello["type"] == "connected", hello
            connected += 1
            if connected == len(build_ids) * CLIENTS_PER_BUILD:
                all_connected.set()
            async for raw in socket:
                now = time.time()
                message = json.loads(raw)
                received += 1
                lags.append(now - message["data"]["sent_at"])
                if message["type"] == "build_completed":
                    return

    tasks = [asyncio.ensure_future(client(build_id)) for build_id in build_ids for _ in range(CLIENTS_PER_BUILD)]
    await asyncio.wait_for(all_connected.wait(), timeout=120)
    publisher = threading.Thread(target=_publish, args=(build_ids, ready), daemon=True)
    publisher.start()
    started = time.perf_counter()
    ready.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=300)
    elapsed = time.perf_counter() - started
    publisher.join(10)
    expected = len(build_ids) * CLIENTS_PER_BUILD * EVENTS_PER_BUILD
    return {"message_lag": percentiles(lags), "messages_received": received, "messages_expected": expected,
            "messages_per_second": round(received / elapsed, 1), "seconds": round(elapsed, 2)}


def _cancel_latency(url: str, key: str, fake_url: str) -> dict[str, Any]:
    import httpx

    from apps.llm import services as llm_services
    from apps.llm.models import ProviderConnection

    if not ProviderConnection.objects.filter(name="bench-forge-fake").exists():
        provider = llm_services.provider_create(name="bench-forge-fake", kind="openai", base_url=f"{fake_url}/v1", api_key=FAKE_KEY,
                                                timeout_seconds=600)
        llm_services.model_create(name="bench-forge-model", provider=provider, provider_model="fake-model", capabilities=["chat"],
                                  input_cost=1, output_cost=1, context_window=64000, max_output_tokens=4000, tiers=[])
    headers = {"Authorization": f"Bearer {key}"}
    samples: list[float] = []
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for _ in range(CANCEL_RUNS):
            started = client.post("/api/v1/forge/builds", json={"prompt": "A to-do list #hang"})
            assert started.status_code == 202, started.text
            build_id = started.json()["session_id"]
            deadline = time.monotonic() + 60
            while client.get(f"/api/v1/forge/builds/{build_id}").json()["status"] != "analyzing":
                if time.monotonic() > deadline:
                    raise RuntimeError("the build never started")
                time.sleep(0.02)
            time.sleep(0.3)  # the provider call is open and hanging
            answer = client.delete(f"/api/v1/forge/builds/{build_id}")
            asked = time.perf_counter()
            assert answer.status_code == 202, answer.text
            while client.get(f"/api/v1/forge/builds/{build_id}").json()["status"] != "cancelled":
                if time.perf_counter() - asked > 30:
                    raise RuntimeError("the build was not cancelled")
                time.sleep(0.01)
            samples.append(time.perf_counter() - asked)
    return {"cancel_to_cancelled": percentiles(samples)}


def child() -> None:
    """Set Django up on the bench database, connect the clients, publish, and print one JSON line of results."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    key, build_ids = _setup()
    if sys.argv[1:] == ["cancel"]:
        from apps.forge.models import Build

        Build.objects.filter(pk__in=build_ids).update(status="completed")  # not running: the concurrent-build limit is free
        print(json.dumps(_cancel_latency(os.environ["BENCH_FORGE_URL"], key, os.environ["BENCH_FORGE_FAKE_URL"])))
    else:
        print(json.dumps(asyncio.run(_watch(os.environ["BENCH_FORGE_URL"], key, build_ids))))


if __name__ == "__main__":
    child()
