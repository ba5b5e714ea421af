"""Shared artifacts (API.md, Tools): content or a chat message at an unguessable, revocable link."""
from __future__ import annotations

from typing import Any

from .._route import Route, Section
from ..models import Resource


class Artifact(Resource):
    """One of the caller's shared links: `token`, the page `url`, and when it expires."""

    id: str
    title: str | None = None
    content_type: str | None = None
    token: str | None = None
    url: str | None = None
    expires_at: Any = None


class SharedArtifact(Resource):
    """What anyone holding a link reads."""

    title: str | None = None
    content_type: str | None = None
    content: str | None = None
    expires_at: Any = None


class Artifacts(Section):
    """Share content or a chat message by link; list and revoke the caller's links."""

    list = Route("GET", "/artifacts", kind="page", model=Artifact)
    create = Route("POST", "/artifacts", model=Artifact,
                   doc="{title, content_type, content} or {title?, message_id}; expires_in? seconds -> 201 {id, token, url, expires_at}")
    revoke = Route("DELETE", "/artifacts/{id}")


class Shared(Section):
    """Read a shared artifact by its link token (no credentials needed)."""

    get = Route("GET", "/shared/{token}", model=SharedArtifact)
