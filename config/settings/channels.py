"""Redis and Channels: the cache, WebSocket routing and limits, the channel layer, run event streams."""
from __future__ import annotations

from .environment import env

__all__ = [
    "CACHES", "CHANNEL_LAYERS", "REDIS_CONNECT_TIMEOUT", "REDIS_MAX_CONNECTIONS", "REDIS_SOCKET_TIMEOUT", "REDIS_URL",
    "RUN_CANCEL_POLL_SECONDS", "SSE_KEEPALIVE_SECONDS", "STREAM_MAXLEN", "STREAM_TTL_SECONDS", "WEBSOCKET_MAX_MESSAGE_BYTES",
    "WEBSOCKET_URLCONF",
]

# One Redis for the broker (celery.py), the channel layer, the cache and run event streams.
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:63790/0")
# The one Redis client of each process (apps.core.redis_client): connect and read timeouts, and the
# size of its async pool (one connection per run stream being followed, plus limits and replays).
REDIS_CONNECT_TIMEOUT = env.float("REDIS_CONNECT_TIMEOUT", default=1.0)
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=5.0)
REDIS_MAX_CONNECTIONS = env.int("REDIS_MAX_CONNECTIONS", default=2000)
# How often a running job (chat reply, chain execution, ...) looks at its cancel flag (apps.core.runs).
RUN_CANCEL_POLL_SECONDS = env.float("RUN_CANCEL_POLL_SECONDS", default=0.2)

CACHES = {
    "default": {
        "BACKEND": "apps.core.cache.SharedPoolRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "nexus",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
    }
}

# The module whose `websocket_urlpatterns` the ASGI application routes (tests add test-only consumers).
WEBSOCKET_URLCONF = "config.routing"
# A WebSocket message is bounded like an HTTP JSON body (apps.core.consumers): bytes, and JSON_MAX_DEPTH.
WEBSOCKET_MAX_MESSAGE_BYTES = env.int("WEBSOCKET_MAX_MESSAGE_BYTES", default=256 * 1024)

# A consumer on the layer waits for its next message in a blocking pop of up to 5 s (channels_redis'
# `brpop_timeout`). redis-py's async pools read with a 5 s socket timeout unless told otherwise, so an
# idle consumer's wait timed out in the read and the consumer was closed with 1011: the read timeout
# here is the pop's 5 s plus REDIS_SOCKET_TIMEOUT, still bounded for a Redis that stopped answering.
CHANNEL_LAYER_BLOCKING_POP_SECONDS = 5
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_timeout": CHANNEL_LAYER_BLOCKING_POP_SECONDS + REDIS_SOCKET_TIMEOUT,
                       "socket_connect_timeout": REDIS_CONNECT_TIMEOUT}],
            "prefix": "nexus:asgi",
        },
    }
}

# ------------------------------------------------------------------------------
# STREAMS: replayable run event streams on Redis Streams.
# ------------------------------------------------------------------------------
STREAM_MAXLEN = env.int("STREAM_MAXLEN", default=10_000)
STREAM_TTL_SECONDS = env.int("STREAM_TTL_SECONDS", default=24 * 3600)
SSE_KEEPALIVE_SECONDS = env.float("SSE_KEEPALIVE_SECONDS", default=15.0)
