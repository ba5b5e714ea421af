"""List calls return iterators that page through `{count, next, previous, results}` with limit/offset."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Generic, TypeVar

from ._transport import AsyncTransport, SyncTransport

T = TypeVar("T")


class PageIterator(Iterator[T], Generic[T]):
    """Iterates every item of a paginated list, fetching `page_size` items per request."""

    def __init__(self, transport: SyncTransport, url: str, *, params: dict[str, Any], parse: Callable[[Any], T],
                 page_size: int = 50) -> None:
        self._transport, self._url, self._params, self._parse = transport, url, params, parse
        self.page_size = page_size
        self.count: int | None = None  # the server's total, known after the first page
        self.pages_fetched = 0
        self._iterator = self._items()

    def __iter__(self) -> PageIterator[T]:
        return self

    def __next__(self) -> T:
        return next(self._iterator)

    def _items(self) -> Iterator[T]:
        offset = int(self._params.pop("offset", 0) or 0)
        limit = int(self._params.pop("limit", self.page_size) or self.page_size)
        while True:
            body = self._transport.request("GET", self._url, params={**self._params, "limit": limit, "offset": offset}).json()
            self.pages_fetched += 1
            self.count = body.get("count")
            results = body.get("results") or []
            for item in results:
                yield self._parse(item)
            offset += len(results)
            if not body.get("next") or not results:
                return


class AsyncPageIterator(AsyncIterator[T], Generic[T]):
    """The async twin of PageIterator (`async for item in client.conversations.list()`)."""

    def __init__(self, transport: AsyncTransport, url: str, *, params: dict[str, Any], parse: Callable[[Any], T],
                 page_size: int = 50) -> None:
        self._transport, self._url, self._params, self._parse = transport, url, params, parse
        self.page_size = page_size
        self.count: int | None = None
        self.pages_fetched = 0
        self._iterator = self._items()

    def __aiter__(self) -> AsyncPageIterator[T]:
        return self

    async def __anext__(self) -> T:
        return await self._iterator.__anext__()

    async def _items(self) -> AsyncIterator[T]:
        offset = int(self._params.pop("offset", 0) or 0)
        limit = int(self._params.pop("limit", self.page_size) or self.page_size)
        while True:
            body = (await self._transport.request("GET", self._url, params={**self._params, "limit": limit, "offset": offset})).json()
            self.pages_fetched += 1
            self.count = body.get("count")
            results = body.get("results") or []
            for item in results:
                yield self._parse(item)
            offset += len(results)
            if not body.get("next") or not results:
                return
