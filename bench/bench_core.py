"""Foundation benchmarks on one daphne process, load from this (second) process on loopback.

1. `read`: requests/s and latency of a cheap authenticated DRF read (`GET /api/v1/users/me`
   with a session cookie) at a fixed number of connections.
2. `fanout`: 500 SSE readers of one `core.streams` stream; the delivery lag (publish -> event
   parsed by the reader) percentiles.

Targets (issue "Foundation"): read >= 600 RPS with p95 <= 50 ms; fan-out lag p95 <= 25 ms.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from bench.harness import BenchContext, bench_user_code, http_read_load, percentiles

READ_SECONDS = 10.0
READ_CONNECTIONS = 16
FANOUT_READERS = 500
FANOUT_EVENTS = 100
FANOUT_RATE = 20.0  # events per second


def _make_session(ctx: BenchContext) -> str:
    code = bench_user_code("bench@example.com") + (
        "from django.contrib.auth import SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "s = SessionStore(); s[SESSION_KEY] = str(u.pk); s[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'\n"
        "s[HASH_SESSION_KEY] = u.get_session_auth_hash(); s.create(); print('SESSION=' + s.session_key)\n"
    )
    out = ctx.django_shell(code)
    return next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("SESSION="))


async def _sse_reader(host: str, port: int, path: str, on_ready: Any, lags: list[float], counts: list[int], index: int) -> None:
    """A lean SSE client on raw asyncio streams: the lag it reports is the server's, not a parser's."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    buffer = b""
    headers_done = False
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            now = time.time()
            buffer += chunk
            if not headers_done:
                if b"\r\n\r\n" not in buffer:
                    continue
                buffer = buffer.split(b"\r\n\r\n", 1)[1]
                headers_done = True
                on_ready()
            while True:
                marker = buffer.find(b'"t":')
                if marker < 0:
                    break
                end = buffer.find(b"}", marker)
                if end < 0:
                    break
                lags.append(now - float(buffer[marker + 4:end]))
                counts[index] += 1
                buffer = buffer[end:]
            if b'"type":"end"' in buffer:
                return
            buffer = buffer[-64:]
    finally:
        writer.close()


async def _fanout(url_base: str, redis_url: str, readers: int = FANOUT_READERS, events: int = FANOUT_EVENTS,
                  rate: float = FANOUT_RATE) -> dict[str, Any]:
    import redis.asyncio as aioredis

    key = f"nexus:stream:bench:{uuid.uuid4()}"
    host, port = url_base.removeprefix("http://").split(":")
    path = f"/api/v1/_test/stream/{key}"
    lags: list[float] = []
    counts = [0] * readers
    connected = asyncio.Event()
    ready = 0

    def on_ready() -> None:
        nonlocal ready
        ready += 1
        if ready == readers:
            connected.set()

    publisher = aioredis.Redis.from_url(redis_url)
    lua = (
        "local n = redis.call('INCR', KEYS[2]) "
        "redis.call('XADD', KEYS[1], 'MAXLEN', '~', 10000, '0-' .. n, 'd', ARGV[1], 'f', ARGV[2]) return n"
    )
    tasks = [asyncio.create_task(_sse_reader(host, int(port), path, on_ready, lags, counts, i)) for i in range(readers)]
    await asyncio.wait_for(connected.wait(), 120)
    await asyncio.sleep(1.0)  # let every subscriber join the shared reader
    for n in range(events):
        # "t" last, so a reader finds its value between `"t":` and the closing brace.
        payload = json.dumps({"type": "tick", "n": n, "t": time.time()}, separators=(",", ":"))
        await publisher.eval(lua, 2, key, key + ":seq", payload, "0")
        await asyncio.sleep(1 / rate)
    await publisher.eval(lua, 2, key, key + ":seq", json.dumps({"type": "end"}, separators=(",", ":")), "1")
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    await publisher.aclose()
    return {
        "readers": readers,
        "events": events,
        "events_per_second": rate,
        "deliveries": len(lags),
        "deliveries_expected": readers * events,
        "readers_missing_events": sum(1 for count in counts if count != events),
        "lag": percentiles(lags),
    }


def run(ctx: BenchContext) -> dict[str, Any]:
    """Both foundation benchmarks; see the module docstring."""
    result: dict[str, Any] = {"targets": {"read_rps": ">= 600", "read_p95_ms": "<= 50", "fanout_lag_p95_ms": "<= 25"}}
    session_key = _make_session(ctx)
    url = ctx.start_daphne()
    result["read"] = asyncio.run(http_read_load(f"{url}/api/v1/users/me", cookies={"sessionid": session_key}, seconds=READ_SECONDS,
                                                connections=READ_CONNECTIONS, warmup=20))
    ctx.stop_all()
    # Fan-out runs against the test-only SSE route of a core.streams stream (tests/urls.py).
    fanout_url = ctx.start_daphne(DJANGO_SETTINGS_MODULE="config.settings.test", DJANGO_ROOT_URLCONF="tests.urls")
    result["fanout"] = asyncio.run(_fanout(fanout_url, ctx.env["REDIS_URL"]))
    # The same 500 readers at other event rates, to show where the time goes as load grows.
    result["fanout_by_rate"] = [
        asyncio.run(_fanout(fanout_url, ctx.env["REDIS_URL"], events=50, rate=rate)) for rate in (2.0, 10.0, 50.0)
    ]
    return result
