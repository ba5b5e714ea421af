"""HTTP plumbing shared by the sync and async clients: auth headers, retries on 429/503, error mapping."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from .errors import NexusConnectionError, NexusTimeout, error_from_response, retry_after_of

RETRY_STATUSES = frozenset({429, 503})


@dataclass
class RetryPolicy:
    """How 429 and 503 answers are retried: at most `max_retries` times, waiting Retry-After or a backoff."""

    max_retries: int = 3
    backoff: float = 0.5  # first wait when the server gives no Retry-After; doubles each time
    max_wait: float = 30.0  # never wait longer than this between two attempts, whatever Retry-After says

    def wait(self, attempt: int, response: httpx.Response) -> float:
        """Seconds to sleep before attempt number `attempt + 1`."""
        asked = retry_after_of(response)
        return min(self.max_wait, asked if asked is not None else self.backoff * (2 ** attempt))


@dataclass
class Options:
    """What both clients are configured with."""

    base_url: str
    api_key: str | None
    timeout: httpx.Timeout
    stream_timeout: httpx.Timeout
    retry: RetryPolicy
    headers: dict[str, str] = field(default_factory=dict)
    on_retry: Callable[[int, httpx.Response, float], None] | None = None  # called before each retry's sleep

    def api_url(self, path: str) -> str:
        """The absolute URL of an /api/v1 path."""
        return self.base_url.rstrip("/") + "/api/v1" + path

    def auth_headers(self) -> dict[str, str]:
        """Authorization (API key or access JWT), plus fixed extra headers."""
        headers = {"User-Agent": "nexus-sdk-python/0.1", **self.headers}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers


def _build(client: httpx.Client | httpx.AsyncClient, options: Options, method: str, url: str, *, stream: bool,
           **kwargs: Any) -> httpx.Request:
    headers = {**options.auth_headers(), **(kwargs.pop("headers", None) or {})}
    return client.build_request(method, url, headers=headers, timeout=options.stream_timeout if stream else options.timeout, **kwargs)


class SyncTransport:
    """Sends requests with httpx.Client; retries 429/503; raises the exception family on errors."""

    def __init__(self, options: Options, client: httpx.Client | None = None) -> None:
        self.options = options
        self.client = client or httpx.Client()

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def _send(self, method: str, url: str, *, stream: bool, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            request = _build(self.client, self.options, method, url, stream=stream, **dict(kwargs))
            try:
                response = self.client.send(request, stream=stream)
            except httpx.TimeoutException as exc:
                raise NexusTimeout(f"{method} {url} timed out") from exc
            except httpx.TransportError as exc:
                raise NexusConnectionError(f"{method} {url}: {exc}") from exc
            if response.status_code in RETRY_STATUSES and attempt < self.options.retry.max_retries:
                wait = self.options.retry.wait(attempt, response)
                response.close()
                if self.options.on_retry:
                    self.options.on_retry(attempt + 1, response, wait)
                time.sleep(wait)
                attempt += 1
                continue
            if response.status_code >= 400:
                if stream:
                    response.read()
                    response.close()
                raise error_from_response(response)
            return response

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, body read."""
        return self._send(method, url, stream=False, **kwargs)

    @contextmanager
    def stream(self, method: str, url: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """One request whose body is read by the caller (SSE)."""
        response = self._send(method, url, stream=True, **kwargs)
        try:
            yield response
        finally:
            response.close()


class AsyncTransport:
    """The async twin of SyncTransport, on httpx.AsyncClient."""

    def __init__(self, options: Options, client: httpx.AsyncClient | None = None) -> None:
        self.options = options
        self.client = client or httpx.AsyncClient()

    async def close(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()

    async def _send(self, method: str, url: str, *, stream: bool, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            request = _build(self.client, self.options, method, url, stream=stream, **dict(kwargs))
            try:
                response = await self.client.send(request, stream=stream)
            except httpx.TimeoutException as exc:
                raise NexusTimeout(f"{method} {url} timed out") from exc
            except httpx.TransportError as exc:
                raise NexusConnectionError(f"{method} {url}: {exc}") from exc
            if response.status_code in RETRY_STATUSES and attempt < self.options.retry.max_retries:
                wait = self.options.retry.wait(attempt, response)
                await response.aclose()
                if self.options.on_retry:
                    self.options.on_retry(attempt + 1, response, wait)
                await asyncio.sleep(wait)
                attempt += 1
                continue
            if response.status_code >= 400:
                if stream:
                    await response.aread()
                    await response.aclose()
                raise error_from_response(response)
            return response

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One request, body read."""
        return await self._send(method, url, stream=False, **kwargs)

    @asynccontextmanager
    async def stream(self, method: str, url: str, **kwargs: Any) -> AsyncIterator[httpx.Response]:
        """One request whose body is read by the caller (SSE)."""
        response = await self._send(method, url, stream=True, **kwargs)
        try:
            yield response
        finally:
            await response.aclose()
