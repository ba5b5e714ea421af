"""NexusClient and AsyncNexusClient: one attribute per API section, over httpx."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from ._transport import AsyncTransport, Options, RetryPolicy, SyncTransport
from .sections import SECTIONS
from .sections.admin import Admin
from .sections.agents import Agents
from .sections.architect import Architect
from .sections.auth import Auth
from .sections.billing import Billing
from .sections.chat import Chat
from .sections.conversations import Conversations
from .sections.documents import Documents
from .sections.folders import Folders
from .sections.forge import Forge
from .sections.keys import Keys
from .sections.knowledge import Knowledge
from .sections.models import Models
from .sections.system import System
from .sections.tasks import Tasks
from .sections.tools import Tools
from .sections.voice import Voice
from .sections.workspaces import Workspaces

DEFAULT_TIMEOUT = 30.0


def _options(base_url: str, api_key: str | None, timeout: float | httpx.Timeout, stream_timeout: float | httpx.Timeout | None,
             max_retries: int, max_retry_wait: float, headers: dict[str, str] | None,
             on_retry: Callable[[int, httpx.Response, float], None] | None) -> Options:
    plain = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
    if stream_timeout is None:
        # SSE answers send a comment every 15 s: a read that waits longer than 60 s means a dead connection.
        stream_timeout = httpx.Timeout(plain.connect or DEFAULT_TIMEOUT, read=60.0)
    stream = stream_timeout if isinstance(stream_timeout, httpx.Timeout) else httpx.Timeout(stream_timeout)
    return Options(base_url=base_url, api_key=api_key, timeout=plain, stream_timeout=stream,
                   retry=RetryPolicy(max_retries=max_retries, max_wait=max_retry_wait), headers=dict(headers or {}), on_retry=on_retry)


class _BaseClient:
    """What both clients share: options and the sections."""

    is_async = False
    _options: Options
    _transport: Any

    auth: Auth
    keys: Keys
    workspaces: Workspaces
    admin: Admin
    system: System
    models: Models
    chat: Chat
    conversations: Conversations
    folders: Folders
    architect: Architect
    knowledge: Knowledge
    documents: Documents
    billing: Billing
    forge: Forge
    agents: Agents
    tasks: Tasks
    voice: Voice
    tools: Tools

    def _attach_sections(self) -> None:
        for name, section in SECTIONS.items():
            setattr(self, name, section(self))

    def _call(self, method: str, url: str, read: Callable[[httpx.Response], Any], **request: Any) -> Any:
        raise NotImplementedError


class NexusClient(_BaseClient):
    """Synchronous client: `NexusClient("https://nexus.example.com", api_key="nxk_...")`.

    `timeout` (seconds or an httpx.Timeout) applies to plain calls, `stream_timeout` to SSE reads;
    429 and 503 answers are retried at most `max_retries` times after `Retry-After` (capped at
    `max_retry_wait` seconds) or an exponential backoff.
    """

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
                 stream_timeout: float | httpx.Timeout | None = None, max_retries: int = 3, max_retry_wait: float = 30.0,
                 headers: dict[str, str] | None = None, on_retry: Callable[[int, httpx.Response, float], None] | None = None,
                 http_client: httpx.Client | None = None) -> None:
        self._options = _options(base_url, api_key, timeout, stream_timeout, max_retries, max_retry_wait, headers, on_retry)
        self._transport = SyncTransport(self._options, http_client)
        self._attach_sections()

    def _call(self, method: str, url: str, read: Callable[[httpx.Response], Any], **request: Any) -> Any:
        return read(self._transport.request(method, url, **request))

    def close(self) -> None:
        """Close the connection pool."""
        self._transport.close()

    def __enter__(self) -> NexusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncNexusClient(_BaseClient):
    """The async twin of NexusClient: calls are awaited, lists and streams are async iterators."""

    is_async = True

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
                 stream_timeout: float | httpx.Timeout | None = None, max_retries: int = 3, max_retry_wait: float = 30.0,
                 headers: dict[str, str] | None = None, on_retry: Callable[[int, httpx.Response, float], None] | None = None,
                 http_client: httpx.AsyncClient | None = None) -> None:
        self._options = _options(base_url, api_key, timeout, stream_timeout, max_retries, max_retry_wait, headers, on_retry)
        self._transport = AsyncTransport(self._options, http_client)
        self._attach_sections()

    def _call(self, method: str, url: str, read: Callable[[httpx.Response], Any], **request: Any) -> Awaitable[Any]:
        async def run() -> Any:
            return read(await self._transport.request(method, url, **request))

        return run()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._transport.close()

    async def __aenter__(self) -> AsyncNexusClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
