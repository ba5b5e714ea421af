"""PostgreSQL connections held by one daphne process after a burst of concurrent requests, and after idle.

500 requests at 64 connections, half `GET /api/v1/users/me` (a sync DRF view: one thread per
request under ASGI) and half `GET /api/v1/openai/models` (an async view whose ORM calls run on the
loop's executor threads), with an `nxk_` key. Each configuration gets its own daphne; its sessions
are counted in pg_stat_activity by the client ports of the process's sockets.
Target (issue 15, 4): bounded by DATABASE_POOL_MAX under any load, none left after threads end.
"""
from __future__ import annotations

import asyncio
import os
import time
from typing import Any
from urllib.parse import urlsplit

from bench.harness import BenchContext, bench_user_code, http_read_load, machine, percentiles

REQUESTS = 500
CONCURRENCY = 64
IDLE_SECONDS = 10.0
READ_SECONDS = 8.0
CONFIGS = {
    # main before issue 15: persistent connections, no pool
    "persistent_conn_max_age_60": {"DATABASE_POOL_MAX": "0", "CONN_MAX_AGE": "60"},
    "pool_default": {},
}


def _make_key(ctx: BenchContext) -> str:
    code = bench_user_code("conn@example.com") + (
        "from apps.accounts.services import api_key_create\n"
        "_k, raw = api_key_create(user=u, name='conn', scopes=['*'], rate_limit=10**7); print('KEY=' + raw)\n"
    )
    out = ctx.django_shell(code)
    return next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("KEY="))


def _count(pid: int, database_url: str) -> int:
    import psutil
    import psycopg

    db_port = urlsplit(database_url).port or 5432
    ports = [c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp") if c.raddr and c.raddr.port == db_port]
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE client_port = ANY(%s)", [ports]).fetchone()[0]


async def _burst(urls: list[str], key: str) -> dict[str, Any]:
    import aiohttp

    statuses: dict[int, int] = {}
    latencies: list[float] = []
    queue = [urls[n % len(urls)] for n in range(REQUESTS)]
    headers = {"Authorization": f"Bearer {key}"}
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY), headers=headers, timeout=timeout) as session:
        async def worker() -> None:
            while queue:
                started = time.perf_counter()
                try:
                    async with session.get(queue.pop()) as response:
                        await response.read()
                        status = response.status
                except Exception:  # noqa: BLE001
                    status = 0  # timeout or reset
                statuses[status] = statuses.get(status, 0) + 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - began
    return {"rps": round(REQUESTS / elapsed, 1), "statuses": statuses, "latency": percentiles(latencies)}


def _read_with_cpu(pid: int, url: str, key: str, connections: int) -> dict[str, Any]:
    """Closed-loop reads with the key; the server's CPU time per request from /proc (psutil)."""
    import psutil

    process = psutil.Process(pid)
    before = process.cpu_times()
    result = asyncio.run(http_read_load(url, headers={"Authorization": f"Bearer {key}"}, seconds=READ_SECONDS,
                                        connections=connections, warmup=20))
    after = process.cpu_times()
    served = sum(result["statuses"].values()) + 20
    result["cpu_ms_per_request"] = round((after.user + after.system - before.user - before.system) * 1000 / served, 2)
    result["load_average_1"] = os.getloadavg()[0]
    return result


def run(ctx: BenchContext) -> dict[str, Any]:
    """Connections after a burst and after idle, per configuration."""
    key = _make_key(ctx)
    result: dict[str, Any] = {"requests": REQUESTS, "concurrency": CONCURRENCY, "idle_seconds": IDLE_SECONDS}
    for name, extra in CONFIGS.items():
        url = ctx.start_daphne(**extra)
        pid = ctx.processes[-1].pid
        urls = [f"{url}/api/v1/users/me", f"{url}/api/v1/openai/models"]
        entry: dict[str, Any] = {"env": extra, "load_before": os.getloadavg()[0]}
        entry["read_16"] = _read_with_cpu(pid, f"{url}/api/v1/users/me", key, 16)
        entry["burst"] = asyncio.run(_burst(urls, key))
        entry["connections_after_burst"] = _count(pid, ctx.env["DATABASE_URL"])
        time.sleep(IDLE_SECONDS)
        entry["connections_after_idle"] = _count(pid, ctx.env["DATABASE_URL"])
        entry["machine"] = machine()
        result[name] = entry
        ctx.stop_all()
    return result
