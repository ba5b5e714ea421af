"""Connections to outside services for the integration tools (API.md, Tools): the secret goes in, never out."""
from __future__ import annotations

from typing import Any

from .._route import Route, Section
from ..models import Resource


class Connection(Resource):
    """A saved connection; `secret_set` says whether a secret is stored (the secret is never returned)."""

    id: str
    kind: str | None = None
    name: str | None = None
    secret_set: bool | None = None
    created_at: Any = None


class Connections(Section):
    """The caller's connections (`slack` bot token, `email` opt-in); managing them needs a `*` key."""

    list = Route("GET", "/connections", kind="page", model=Connection)
    create = Route("POST", "/connections", model=Connection, doc="kind: slack|email, name, secret? -> 201 without the secret")
    delete = Route("DELETE", "/connections/{id}")
