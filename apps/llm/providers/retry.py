"""Retry an upstream call that answered 429, with backoff, before giving up with RATE_LIMITED.

Only the call that *opens* a request is retried: once events have reached the consumer, a retry
would duplicate them. Every other failure is mapped at once (retrying a down provider only makes
the user wait longer for the same 503).
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from django.conf import settings

from .errors import is_rate_limit, map_provider_error, retry_after_of

T = TypeVar("T")

# Never wait longer than this between two attempts, whatever Retry-After says.
MAX_BACKOFF_SECONDS = 8.0
BASE_BACKOFF_SECONDS = 0.5


async def open_with_retry(call: Callable[[], Awaitable[T]], *, provider: str, retries: int | None = None) -> T:
    """Await `call()`; on a 429 wait (Retry-After or exponential backoff) and try again."""
    attempts = (settings.LLM_RATE_LIMIT_RETRIES if retries is None else retries) + 1
    for attempt in range(attempts):
        try:
            return await call()
        except Exception as exc:
            if is_rate_limit(exc) and attempt + 1 < attempts:
                asked = retry_after_of(exc)
                delay = asked if asked is not None else BASE_BACKOFF_SECONDS * (2**attempt)
                await asyncio.sleep(min(MAX_BACKOFF_SECONDS, delay))
                continue
            raise map_provider_error(exc, provider=provider) from exc
    raise AssertionError("unreachable")  # pragma: no cover
