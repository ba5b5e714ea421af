"""Authenticated reads on one daphne process: `GET /api/v1/users/me` with an API key and with a JWT.

Each request runs the whole accounts path: key digest lookup (or JWT verification and user
load), the API key scope check, the per-user rate limit in Redis (with its headers), and the
profile serializer. The load comes from this process over loopback with aiohttp.

Target (issue "Accounts"): >= 600 requests/s with p95 <= 50 ms per process, for each method.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from bench.harness import BenchContext, percentiles

SECONDS = 10.0
CONNECTIONS = 16

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


async def _load(url: str, headers: dict[str, str], seconds: float, connections: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        for _ in range(50):  # warm connections, caches and the database pool
            async with session.get(url) as response:
                await response.read()
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    return {"rps": round(len(latencies) / elapsed, 1), "latency": percentiles(latencies), "statuses": statuses,
            "connections": connections, "seconds": round(elapsed, 1)}


def run(ctx: BenchContext) -> dict[str, Any]:
    """API key and JWT reads of /api/v1/users/me; see the module docstring."""
    key, access = _credentials(ctx)
    url = ctx.start_daphne()
    me = f"{url}/api/v1/users/me"
    result: dict[str, Any] = {"targets": {"rps": ">= 600", "p95_ms": "<= 50"}, "route": "GET /api/v1/users/me"}
    result["api_key"] = asyncio.run(_load(me, {"Authorization": f"Bearer {key}"}, SECONDS, CONNECTIONS))
    result["jwt"] = asyncio.run(_load(me, {"Authorization": f"Bearer {access}"}, SECONDS, CONNECTIONS))
    result["api_key_x_api_key_header"] = asyncio.run(_load(me, {"x-api-key": key}, SECONDS / 2, CONNECTIONS))
    for name in ("api_key", "jwt"):
        figures = result[name]
        figures["meets_target"] = figures["rps"] >= 600 and figures["latency"].get("p95_ms", 1e9) <= 50 and set(figures["statuses"]) == {200}
    return result
