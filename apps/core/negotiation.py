"""Content negotiation that never answers 406.

SSE routes return their stream themselves and render only errors through DRF, and
EventSource, `httpx-sse` and the Vercel AI SDK send `Accept: text/event-stream`: DRF's
default negotiation would refuse them with 406 before the view runs. Falling back to the
first renderer (JSON) makes every error the envelope of API.md, whatever `Accept` says.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class EnvelopeContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, except that an unmatched `Accept` gets JSON instead of 406."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            renderer: Any = next(iter(renderers))
            return renderer, renderer.media_type
