"""Authenticated reads on one daphne process: `GET /api/v1/users/me` with an API key and with a JWT.

Each request runs the whole accounts path: key digest lookup (or JWT verification and user
load), the API key scope check, the per-user rate limit in Redis (with its headers), and the
profile serializer. The load comes from this process over loopback with aiohttp.

Target (issue "Accounts"): >= 600 requests/s with p95 <= 50 ms per process, for each method.
Issue 15, 2: at 256 connections the keyed read keeps >= 90 % of that throughput, with no failure.
`api_key_sequential`: the daphne process's CPU per keyed read, over reads sent one at a time after a warm-up.
"""
from __future__ import annotations

import asyncio
from typing import Any

from bench.harness import BenchContext, http_read_load

SECONDS = 10.0
SEQUENTIAL = 1000
CONNECTIONS = 16
MANY_CONNECTIONS = 256

_SETUP = """
from apps.accounts import services
from apps.accounts.models import Tier, User
from apps.accounts.policy import policy_cache_clear
# The bench measures the auth path, not the limiter refusing: lift the tier's per-minute limit.
Tier.objects.filter(slug="enterprise").update(api_rpm=10_000_000)
u = User.objects.filter(email="bench-auth@example.com").first() or User.objects.create_user(email="bench-auth@example.com", password="bench-pass-123456")
u.tier_id = "enterprise"; u.save(update_fields=["tier"])
_key, raw = services.api_key_create(user=u, name="bench", scopes=["*"])
pair = services.token_pair_issue(user=u)
print("KEY=" + raw)
print("JWT=" + pair["access_token"])
"""


def _credentials(ctx: BenchContext) -> tuple[str, str]:
    out = ctx.django_shell(_SETUP)
    values = dict(line.split("=", 1) for line in out.splitlines() if line.startswith(("KEY=", "JWT=")))
    return values["KEY"], values["JWT"]


async def _sequential_cpu(url: str, headers: dict[str, str], pid: int) -> dict[str, Any]:
    import time

    import aiohttp

    from bench.bench_gateway import _cpu_seconds

    async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=1)) as session:
        for _ in range(50):  # warm-up, not counted
            async with session.get(url) as response:
                await response.read()
        before, began = _cpu_seconds(pid), time.perf_counter()
        statuses: dict[int, int] = {}
        for _ in range(SEQUENTIAL):
            async with session.get(url) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
        elapsed = time.perf_counter() - began
        cpu = _cpu_seconds(pid) - before
    return {"requests": SEQUENTIAL, "rps": round(SEQUENTIAL / elapsed, 1), "server_cpu_ms_per_request": round(cpu / SEQUENTIAL * 1000, 2),
            "statuses": statuses}


def run(ctx: BenchContext) -> dict[str, Any]:
    """API key and JWT reads of /api/v1/users/me; see the module docstring."""
    key, access = _credentials(ctx)
    url = ctx.start_daphne()
    daphne_pid = ctx.processes[-1].pid
    me = f"{url}/api/v1/users/me"
    result: dict[str, Any] = {"targets": {"rps": ">= 600", "p95_ms": "<= 50"}, "route": "GET /api/v1/users/me"}
    result["api_key"] = asyncio.run(http_read_load(me, headers={"Authorization": f"Bearer {key}"}, seconds=SECONDS, connections=CONNECTIONS))
    result["jwt"] = asyncio.run(http_read_load(me, headers={"Authorization": f"Bearer {access}"}, seconds=SECONDS, connections=CONNECTIONS))
    result["api_key_x_api_key_header"] = asyncio.run(http_read_load(me, headers={"x-api-key": key}, seconds=SECONDS / 2, connections=CONNECTIONS))
    result["api_key_sequential"] = asyncio.run(_sequential_cpu(me, {"Authorization": f"Bearer {key}"}, daphne_pid))
    many = asyncio.run(http_read_load(me, headers={"Authorization": f"Bearer {key}"}, seconds=SECONDS, connections=MANY_CONNECTIONS))
    many["ratio_to_16_connections"] = round(many["rps"] / max(result["api_key"]["rps"], 1e-9), 2)
    many["meets_target"] = many["ratio_to_16_connections"] >= 0.9 and set(many["statuses"]) == {200}
    result[f"api_key_{MANY_CONNECTIONS}_connections"] = many
    for name in ("api_key", "jwt"):
        figures = result[name]
        figures["meets_target"] = figures["rps"] >= 600 and figures["latency"].get("p95_ms", 1e9) <= 50 and set(figures["statuses"]) == {200}
    return result
