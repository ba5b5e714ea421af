"""Chat and model comparison (API.md, Chat)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from .._route import Route, Section
from ..models import Comparison, ServerEvent

if TYPE_CHECKING:
    from ..client import _BaseClient


def _conversation_stream(client: _BaseClient, response: httpx.Response, event: ServerEvent | None) -> str | None:
    """A chat reply goes on when the client drops: re-attach to /conversations/{id}/stream."""
    conversation_id = response.headers.get("x-conversation-id")
    return client._options.api_url(f"/conversations/{conversation_id}/stream") if conversation_id else None


class Chat(Section):
    """Streamed chat replies and side-by-side comparisons."""

    stream = Route("POST", "/chat", kind="sse", resume=_conversation_stream,
                   doc="messages, model_id, conversation_id?, tools?: [name], max_tool_rounds?, ... -> SSE events "
                       "(tool-call / tool-result among them); resumes on the conversation's stream")
    compare = Route("POST", "/compare", model=Comparison, doc="prompt, model1_id, model2_id (params={'stream': 'true'} to stream)")
    comparisons = Route("GET", "/comparisons", kind="page", model=Comparison)
    comparison = Route("GET", "/comparisons/{id}", model=Comparison)
