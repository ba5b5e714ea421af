"""Web processes per machine: `GET /api/v1/users/me` with an `nxk_` key through `python -m apps.core.runtime web`.

The same closed-loop load (16 connections, 8 s, after a warm-up) against WEB_CONCURRENCY=1 and
WEB_CONCURRENCY=<cores>: requests/s and latency percentiles for each, and the ratio. The load
generator runs on the same machine, so on a small machine it takes part of the cores it measures.
Target (issue 15, 5): `make run` uses every core.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

from apps.core.runtime.embedded import free_port
from bench.harness import ROOT, BenchContext, _wait_http, bench_user_code, http_read_load

CONNECTIONS = 16
SECONDS = 8.0


def _key(ctx: BenchContext) -> str:
    code = bench_user_code("web@example.com") + (
        "from apps.accounts.services import api_key_create\n"
        "_k, raw = api_key_create(user=u, name='web', scopes=['*'], rate_limit=10**7); print('KEY=' + raw)\n"
    )
    return next(line.split("=", 1)[1] for line in ctx.django_shell(code).splitlines() if line.startswith("KEY="))


def _serve(ctx: BenchContext, processes: int) -> str:
    port = free_port()
    log = (ctx.tmp / f"web-{processes}.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "apps.core.runtime", "web"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               env={**ctx.env, "WEB_CONCURRENCY": str(processes), "PORT": str(port), "BIND": "127.0.0.1"},
                               start_new_session=True)
    ctx.processes.append(process)
    url = f"http://127.0.0.1:{port}"
    _wait_http(url + "/health", process)
    time.sleep(2)  # every daphne up, not only the first to accept
    return url


def run(ctx: BenchContext) -> dict[str, Any]:
    """Throughput with one web process and with one per core."""
    key = _key(ctx)
    cores = os.cpu_count() or 1
    results: dict[str, Any] = {"cores": cores, "connections": CONNECTIONS, "seconds": SECONDS}
    for processes in sorted({1, cores}):
        url = _serve(ctx, processes)
        results[f"web_concurrency_{processes}"] = asyncio.run(
            http_read_load(f"{url}/api/v1/users/me", seconds=SECONDS, connections=CONNECTIONS,
                           headers={"Authorization": f"Bearer {key}"}))
        ctx.stop_all()
    if cores > 1:
        results["ratio"] = round(results[f"web_concurrency_{cores}"]["rps"] / results["web_concurrency_1"]["rps"], 2)
    return results
