"""Assistant Architect prompt chains (API.md, Assistant Architect)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from .._route import Route, Section, resume_same
from ..models import ArchitectTool, Execution, ServerEvent

if TYPE_CHECKING:
    from ..client import _BaseClient


def _execution_events(client: _BaseClient, response: httpx.Response, event: ServerEvent | None) -> str | None:
    """An execution runs on a worker: after a drop, follow /executions/{id}/events (the id comes in the first event)."""
    execution_id = response.headers.get("x-execution-id") or (event.get("execution_id") if event is not None else None)
    return client._options.api_url(f"/architect/executions/{execution_id}/events") if execution_id else None


class Architect(Section):
    """Tools (prompt chains) and their executions."""

    tools = Route("GET", "/architect/tools", kind="page", model=ArchitectTool)
    create_tool = Route("POST", "/architect/tools", model=ArchitectTool)
    get_tool = Route("GET", "/architect/tools/{id}", model=ArchitectTool)
    update_tool = Route("PATCH", "/architect/tools/{id}", model=ArchitectTool)
    delete_tool = Route("DELETE", "/architect/tools/{id}")
    duplicate_tool = Route("POST", "/architect/tools/{id}/duplicate", model=ArchitectTool)
    execute = Route("POST", "/architect/execute", kind="sse", resume=_execution_events, doc="tool_id, inputs -> SSE events")
    executions = Route("GET", "/architect/executions", kind="page", model=Execution)
    execution = Route("GET", "/architect/executions/{id}", model=Execution)
    events = Route("GET", "/architect/executions/{id}/events", kind="sse", resume=resume_same)
    cancel = Route("POST", "/architect/executions/{id}/cancel")
