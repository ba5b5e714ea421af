"""Routes declared once per section and served by both the sync and the async client.

A section is a class of `Route` attributes (`list = Route("GET", "/conversations", kind="page", ...)`).
Positional arguments fill the path's `{placeholders}` in order; keyword arguments become the
query string (GET, DELETE) or the JSON body (POST, PUT, PATCH); `params=` adds a query string to
any method. On the sync client a call answers the value, on the async client an awaitable (or,
for lists and streams, an async iterator).
"""
from __future__ import annotations

import mimetypes
import re
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

from .models import Record, Resource, ServerEvent
from .pagination import AsyncPageIterator, PageIterator
from .sse import AsyncEventStream, EventStream

if TYPE_CHECKING:
    from .client import _BaseClient

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
KINDS = ("json", "page", "sse", "bytes", "upload")
# Given the client, the first answer and the last event, where to resume a dropped stream.
Resume = Callable[["_BaseClient", httpx.Response, ServerEvent | None], str | None]


def resume_same(client: _BaseClient, response: httpx.Response, event: ServerEvent | None) -> str | None:
    """A GET stream resumes at its own URL."""
    return str(response.request.url)


class Route:
    """One API operation: method, path under /api/v1, how the answer is read, and its model."""

    def __init__(self, method: str, path: str, *, model: type[Resource] = Record, kind: str = "json",
                 resume: Resume | None = None, doc: str = "") -> None:
        assert kind in KINDS, kind
        self.method, self.path, self.model, self.kind, self.resume = method.upper(), path, model, kind, resume
        self.placeholders = _PLACEHOLDER.findall(path)
        self.__doc__ = doc or f"{self.method} /api/v1{path}"
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, section: Section | None, owner: type) -> Any:
        if section is None:
            return self
        return _BoundRoute(self, section)

    def parse(self, response: httpx.Response) -> Any:
        """The typed value of a JSON answer (None for an empty one)."""
        if response.status_code == 204 or not response.content:
            return None
        body = response.json()
        if isinstance(body, list):
            return [self.model.model_validate(item) if isinstance(item, dict) else item for item in body]
        return self.model.model_validate(body) if isinstance(body, dict) else body


def _file_part(file: str | Path | bytes | IO[bytes], filename: str | None, content_type: str | None) -> tuple[str, Any, str]:
    if isinstance(file, str | Path):
        path = Path(file)
        filename, content = filename or path.name, path.read_bytes()
    elif isinstance(file, bytes):
        filename, content = filename or "upload.bin", file
    else:
        filename, content = filename or Path(getattr(file, "name", "upload.bin")).name, file.read()
    content_type = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    return filename, content, content_type


class _BoundRoute:
    """A Route bound to one client's section: calling it sends the request."""

    def __init__(self, route: Route, section: Section) -> None:
        self.route, self.section = route, section
        self.__doc__ = route.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        route, client = self.route, self.section._client
        if len(args) > len(route.placeholders):
            raise TypeError(f"{route.name}() takes {len(route.placeholders)} positional argument(s): {route.placeholders}")
        values = dict(zip(route.placeholders, args, strict=False))
        for name in route.placeholders[len(args):]:
            if name not in kwargs:
                raise TypeError(f"{route.name}() needs `{name}`")
            values[name] = kwargs.pop(name)
        url = client._options.api_url(route.path.format(**{k: str(v) for k, v in values.items()}))
        params = {k: v for k, v in (kwargs.pop("params", None) or {}).items() if v is not None}
        request: dict[str, Any] = {}
        if route.kind == "upload":
            filename, content, content_type = _file_part(kwargs.pop("file"), kwargs.pop("filename", None), kwargs.pop("content_type", None))
            request["files"] = {"file": (filename, content, content_type)}
            request["data"] = {k: v for k, v in kwargs.items() if v is not None}
        elif route.method in ("GET", "DELETE"):
            params.update({k: (",".join(map(str, v)) if isinstance(v, list | tuple) else v) for k, v in kwargs.items() if v is not None})
        else:
            body = {k: v for k, v in kwargs.items() if v is not None}
            if body or route.method != "POST":
                request["json"] = body
        if params:
            request["params"] = params
        if route.kind == "page":
            iterator_cls = AsyncPageIterator if client.is_async else PageIterator
            return iterator_cls(client._transport, url, params=params, parse=route.model.model_validate)
        if route.kind == "sse":
            resume = route.resume
            stream_cls = AsyncEventStream if client.is_async else EventStream
            return stream_cls(client._transport, route.method, url,
                              resume=(lambda response, event: resume(client, response, event)) if resume else None,
                              headers={"Accept": "text/event-stream"}, **request)
        read: Callable[[httpx.Response], Any] = (lambda r: r.content) if route.kind == "bytes" else route.parse
        return client._call(route.method, url, read, **request)


class Section:
    """A group of routes (one API.md section); `client.<name>` is an instance bound to the client."""

    name = ""

    def __init__(self, client: _BaseClient) -> None:
        self._client = client

    @classmethod
    def routes(cls) -> list[Route]:
        """Every route this section wraps (used by the coverage check)."""
        found: dict[str, Route] = {}
        for klass in reversed(cls.__mro__):
            found.update({name: value for name, value in vars(klass).items() if isinstance(value, Route)})
        return list(found.values())
