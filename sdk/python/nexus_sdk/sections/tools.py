"""Platform tools a model or a client can call (API.md, Tools)."""
from __future__ import annotations

from .._route import Route, Section


class Tools(Section):
    """The platform tools the caller may use, and calling one: `client.tools.call("search_knowledge", arguments={...})`."""

    list = Route("GET", "/tools", kind="page", doc="the tools the caller's roles and key scopes cover: {name, description, parameters}")
    call = Route("POST", "/tools/{name}", doc="arguments={...} -> {result}; 400 bad arguments, 403 scope, 404 unknown or not visible")
