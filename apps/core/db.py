"""Database helpers for long responses."""
from __future__ import annotations

import asyncio

from django.db import connections


def release_db_connections() -> None:
    """Hand this thread's database connections back (to the pool) before a long stream starts.

    Django returns a request's connections only when the response is closed; for a stream that
    lasts minutes, hundreds of open streams would hold hundreds of connections doing nothing.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return  # the event loop's thread holds no request connection; async views call this via sync_to_async
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()
