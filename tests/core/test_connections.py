"""Database and Redis connections of a live daphne stay bounded by their pool settings, under load and after it."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from django.db import connection

from apps.accounts import services as account_services
from tests.conftest import start_daphne, stop_process
from tests.factories import UserFactory
from tests.sockets import connections_to

pytestmark = pytest.mark.live

POOL_MAX = 6
REDIS_MAX = 8
REQUESTS = 500
CONCURRENCY = 64


def _server_db_connections(pid: int) -> int:
    """PostgreSQL sessions whose client is one of the server process's sockets (pg_stat_activity)."""
    db_port = int(connection.settings_dict["PORT"])
    ports = [port for _ip, port in connections_to(db_port, pid=pid, established_only=False)]
    if not ports:
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE client_port = ANY(%s)", [ports])
        return cursor.fetchone()[0]


def _redis_port() -> int:
    from django.conf import settings

    return int(settings.REDIS_URL.rsplit(":", 1)[1].split("/", 1)[0])


def _server_redis_connections(pid: int) -> int:
    """TCP connections of the server process to Redis (open or closing)."""
    return len(connections_to(_redis_port(), pid=pid, established_only=False))


async def _burst(urls: list[str], headers: dict[str, str]) -> dict[int, int]:
    import aiohttp

    statuses: dict[int, int] = {}
    queue = [urls[n % len(urls)] for n in range(REQUESTS)]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY), headers=headers) as session:
        async def worker() -> None:
            while queue:
                async with session.get(queue.pop()) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return statuses


@pytest.mark.django_db(transaction=True)
def test_burst_of_concurrent_requests_leaves_connections_bounded_by_the_pool(tmp_path: Path) -> None:
    from apps.accounts.seeds import seed

    seed()  # an earlier transactional test may have flushed the seeded tiers
    user = UserFactory()
    _key, raw = account_services.api_key_create(user=user, name="burst", scopes=["*"], rate_limit=10**7)
    from apps.accounts.models import Tier
    Tier.objects.update(api_rpm=10**7)  # the burst measures connections, not the per-user limit
    server = start_daphne(tmp_path, DATABASE_POOL_MAX=str(POOL_MAX), REDIS_MAX_CONNECTIONS=str(REDIS_MAX))
    try:
        # sync DRF view (a thread per request) and async gateway views (executor threads)
        urls = [f"{server.url}/api/v1/users/me", f"{server.url}/api/v1/openai/models"]
        statuses = asyncio.run(_burst(urls, {"Authorization": f"Bearer {raw}"}))
        assert statuses == {200: REQUESTS}, server.log()
        after_burst = _server_db_connections(server.process.pid)
        time.sleep(3)
        after_idle = _server_db_connections(server.process.pid)
        assert 0 < after_burst <= POOL_MAX, (after_burst, server.log())
        assert after_idle <= POOL_MAX
        # Redis too: 64 requests at once share the sync pool (limits, cache) and the async one, each bounded.
        assert 0 < _server_redis_connections(server.process.pid) <= 2 * REDIS_MAX
        # the pool still serves: no connection was lost to a thread that ended
        statuses = asyncio.run(_burst(urls, {"Authorization": f"Bearer {raw}"}))
        assert statuses == {200: REQUESTS}, server.log()
        assert _server_db_connections(server.process.pid) <= POOL_MAX
    finally:
        stop_process(server.process)


def test_a_short_lived_loop_closes_its_redis_connections() -> None:
    """`async_to_sync` in a Celery task runs a loop of its own: its async Redis client is closed with it, not left to the collector."""
    from asgiref.sync import async_to_sync

    from apps.core.redis_client import redis_async

    port = _redis_port()
    async def use() -> bool:
        return bool(await redis_async().ping())

    before = connections_to(port)
    assert async_to_sync(use)()
    assert not connections_to(port) - before
