"""Which ASGI server for Nexus: daphne against uvicorn and granian, on the gateway and on the floor app.

The serving-path issue keeps daphne unless another ASGI server is at least 1.5x faster on this app
once the application's own costs are gone. Each server here serves, one process at a time on one
worker, (1) Nexus (`config.asgi:application`) answering `POST /api/v1/openai/chat/completions`
against the loopback fake provider, as `bench gateway` calls it, and (2) the floor app
(`bench/gateway_floor.py`: one `openai` SDK call per request and nothing else). Measured per pair:
the server process's CPU per call one request at a time (warm), the p50 latency, and requests/s at
50 in flight. uvicorn runs on uvloop with httptools, granian on its Rust HTTP stack with uvloop.

`switch` is true when the best other server serves Nexus at 50 in flight at least 1.5x daphne's
rate. WebSockets are not compared: every server here speaks them, and the chat figures are SSE.
"""
from __future__ import annotations

import asyncio
import sys
from typing import Any

from apps.core.runtime.embedded import free_port
from bench import bench_gateway as gateway
from bench.harness import ROOT, BenchContext

SERVERS = ("daphne", "uvicorn", "granian")
SEQUENTIAL = 600
SECONDS = 8.0
SWITCH_RATIO = 1.5


def _command(server: str, app: str, port: int) -> list[str]:
    if server == "daphne":
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]
    if server == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
                "--no-access-log", "--lifespan", "off", app]
    return [sys.executable, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--loop", "uvloop", app]


def _measure(url: str, headers: dict[str, str], pid: int) -> dict[str, Any]:
    warm: list[float] = []
    sequential = asyncio.run(gateway._sequential(url, headers, gateway.MODEL, stream=False, count=SEQUENTIAL, warm=warm, server_pid=pid))
    cpu_ms = (gateway._cpu_seconds(pid) - warm[0]) / SEQUENTIAL * 1000
    concurrent = asyncio.run(gateway._concurrent(url, headers, gateway.MODEL, stream=False, inflight=gateway.INFLIGHT, seconds=SECONDS))
    statuses = {**sequential["statuses"], **concurrent["statuses"]}
    if set(statuses) - {200}:  # figures of error answers would flatter the server
        raise RuntimeError(f"{url} did not answer 200 to every request: {statuses}")
    return {"server_cpu_ms_per_request_warm": round(cpu_ms, 2), "sequential_p50_ms": sequential["latency"]["p50_ms"],
            "rps_50_in_flight": concurrent["rps"]}


def run(ctx: BenchContext) -> dict[str, Any]:
    """Nexus and the floor app under each server; see the module docstring."""
    fake_port = free_port()
    fake = ctx.start_process([sys.executable, "-m", "tests.fakes.llm_server", "--port", str(fake_port), "--api-key", gateway.FAKE_KEY],
                             env={**ctx.env, "PYTHONPATH": str(ROOT)}, log_name="fake-llm")
    gateway._wait_port(fake_port, fake)
    fake_url = f"http://127.0.0.1:{fake_port}/v1"
    out = ctx.django_shell(gateway._SETUP, BENCH_FAKE_URL=fake_url, BENCH_FAKE_KEY=gateway.FAKE_KEY)
    key = next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("KEY="))
    floor_env = {name: value for name, value in ctx.env.items() if name != "DJANGO_SETTINGS_MODULE"}
    floor_env.update(PYTHONPATH=str(ROOT), FLOOR_URL=fake_url, FLOOR_KEY=gateway.FAKE_KEY)
    apps = {
        "nexus": ("config.asgi:application", "/api/v1/openai/chat/completions", {"Authorization": f"Bearer {key}"}, ctx.env),
        "floor": ("bench.gateway_floor:asgi_app", "/", {}, floor_env),
    }
    result: dict[str, Any] = {"inflight": gateway.INFLIGHT, "sequential_calls": SEQUENTIAL, "seconds_per_load": SECONDS}
    for name, (app, path, headers, env) in apps.items():
        result[name] = {}
        for server in SERVERS:
            port = free_port()
            process = ctx.start_process(_command(server, app, port), env=env, log_name=f"{name}-{server}")
            gateway._wait_port(port, process)
            print(f"   measuring {name} on {server}", flush=True)
            result[name][server] = _measure(f"http://127.0.0.1:{port}{path}", headers, process.pid)
            process.terminate()
            process.wait(timeout=30)
    daphne = result["nexus"]["daphne"]["rps_50_in_flight"]
    ratios = {server: round(result["nexus"][server]["rps_50_in_flight"] / max(daphne, 0.1), 2) for server in SERVERS if server != "daphne"}
    result["nexus_rps_over_daphne"] = ratios
    result["switch"] = max(ratios.values()) >= SWITCH_RATIO
    return result
