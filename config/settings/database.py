"""PostgreSQL with pgvector only; the embedded runtime exports DATABASE_URL."""
from __future__ import annotations

from .environment import env

__all__ = ["DATABASES", "DATABASE_ASYNC_POOL_MAX", "DATABASE_POOL_CHECK_AFTER_SECONDS", "DATABASE_POOL_MAX", "DATABASE_POOL_TIMEOUT",
           "DEFAULT_AUTO_FIELD"]

DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:54329/nexus")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Under ASGI every request's sync code runs in a fresh thread, and Django's connections are per
# thread: persistent connections (CONN_MAX_AGE) leak there, since a thread that ended never closes
# its connection (measured: 139 idle connections after one burst). psycopg's pool keeps them per
# process instead: a request's connection goes back at request end, code on the loop's executor
# threads hands it back after each call (apps.core.db.db_sync_to_async). On by default; the pool is
# the bound on PostgreSQL connections per process (DATABASE_POOL_MAX; 0 turns it off).
DATABASE_POOL_MAX = env.int("DATABASE_POOL_MAX", default=16)
DATABASE_POOL_TIMEOUT = env.float("DATABASE_POOL_TIMEOUT", default=5.0)
# Of those, the event loop's own (apps.core.db.db_async_pool): the gateway's one-statement credit
# hold runs on the loop with no thread hop. Part of DATABASE_POOL_MAX, never on top of it; 0 (or
# the pool off) puts the hold back in a thread.
DATABASE_ASYNC_POOL_MAX = max(0, min(env.int("DATABASE_ASYNC_POOL_MAX", default=min(4, DATABASE_POOL_MAX // 4)), DATABASE_POOL_MAX - 1))
if DATABASE_POOL_MAX > 0:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A burst (hundreds of requests at once) queues for a connection rather than failing.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, DATABASE_POOL_MAX - DATABASE_ASYNC_POOL_MAX), "max_size": DATABASE_POOL_MAX - DATABASE_ASYNC_POOL_MAX,
        "timeout": DATABASE_POOL_TIMEOUT,
    }
    # Django gives the pool `check_connection`: a connection is checked when handed out, so after a
    # PostgreSQL restart a dead one is replaced, never given to a request (the pool is never left broken).
    # apps.core.db.pool_check_if_quiet skips the check for a connection handed out less than this ago.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A pooled connection handed out less than this ago is not checked again (apps.core.db.pool_check_if_quiet).
DATABASE_POOL_CHECK_AFTER_SECONDS = env.float("DATABASE_POOL_CHECK_AFTER_SECONDS", default=1.0)
