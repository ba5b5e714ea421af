"""Forge, the one-shot app builder (API.md, Forge)."""
from __future__ import annotations

from typing import Any

from .._route import Route, Section
from ..models import Build
from ..websocket import iterate_async, iterate_sync


class Forge(Section):
    """Builds, templates, deployments, and a build's progress over its WebSocket."""

    start = Route("POST", "/forge/builds", model=Build, doc="prompt, config? -> 202 {session_id, websocket_url, ...}")
    builds = Route("GET", "/forge/builds", kind="page", model=Build)
    get = Route("GET", "/forge/builds/{id}", model=Build)
    cancel_or_delete = Route("DELETE", "/forge/builds/{id}", doc="cancels a running build, deletes a finished one")
    deploy = Route("POST", "/forge/builds/{id}/deploy")
    undeploy = Route("DELETE", "/forge/builds/{id}/deploy")
    download = Route("GET", "/forge/builds/{id}/download", kind="bytes", doc="zip of the generated files")
    mockup = Route("GET", "/forge/builds/{id}/mockups/{index}", kind="bytes")
    screenshot = Route("GET", "/forge/builds/{id}/screenshots/{index}", kind="bytes")
    from_template = Route("POST", "/forge/builds/from-template", model=Build)
    templates = Route("GET", "/forge/templates")

    def watch(self, session_id: str) -> Any:
        """Progress messages of a build (`connected`, `progress_update`, ..., `build_completed`) until it ends.

        On the async client an async iterator, on the sync client an iterator; a late client first
        receives what it missed.
        """
        path = f"/ws/forge/{session_id}"
        if self._client.is_async:
            return iterate_async(self._client._options, path)
        return iterate_sync(self._client._options, path)
