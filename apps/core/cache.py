"""A Redis cache backend whose connection pool is shared by every thread of a process.

Django keeps one cache object per thread, and under ASGI each request's sync code runs in a
fresh thread, so the stock backend opens a new Redis connection for nearly every request
(rate limits touch the cache on every authenticated call). Sharing the pool per process (and
per PID, so a forked Celery child builds its own) removes that connect on the hot path. The
cache at REDIS_URL uses the pool of the process's one Redis client (`apps.core.redis_client`).
"""
from __future__ import annotations

import os
import threading
from typing import Any

from django.conf import settings
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from .redis_client import redis_sync

_pools: dict[tuple[int, str, bool], Any] = {}
_lock = threading.Lock()


class SharedPoolRedisCacheClient(RedisCacheClient):
    """RedisCacheClient that takes its pools from a process-wide registry."""

    def _get_connection_pool(self, write: bool) -> Any:
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]  # private Django attribute the stubs leave out
        if self._servers[index] == settings.REDIS_URL:  # type: ignore[attr-defined]  # private Django attribute the stubs leave out
            return redis_sync().connection_pool  # the process's one Redis client (apps.core.redis_client)
        key = (os.getpid(), self._servers[index], write)  # type: ignore[attr-defined]  # private Django attribute the stubs leave out
        pool = _pools.get(key)
        if pool is None:
            with _lock:
                pool = _pools.get(key)
                if pool is None:
                    pool = self._pool_class.from_url(self._servers[index], **self._pool_options)  # type: ignore[attr-defined]  # private Django attribute the stubs leave out
                    _pools[key] = pool
        return pool


class SharedPoolRedisCache(RedisCache):
    """Django's Redis cache with one connection pool per process."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedPoolRedisCacheClient
