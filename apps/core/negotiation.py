"""Content negotiation that never answers 406, and remembers its choices.

SSE routes return their stream themselves and render only errors through DRF, and
EventSource, `httpx-sse` and the Vercel AI SDK send `Accept: text/event-stream`: DRF's
default negotiation would refuse them with 406 before the view runs. Falling back to the
first renderer (JSON) makes every error the envelope of API.md, whatever `Accept` says.

The choice depends only on the format asked for, the `Accept` header and the view's renderer
classes, and clients send few distinct `Accept` values: each choice is worked out once.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

_MAX_CHOICES = 512  # distinct (format, Accept, renderers) seen; forgotten all at once past this
_choices: dict[tuple[Any, ...], tuple[int, str]] = {}


class EnvelopeContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, except that an unmatched `Accept` gets JSON instead of 406."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        override = self.settings.URL_FORMAT_OVERRIDE
        wanted = format_suffix or (request.query_params.get(override) if override else None)
        key = (wanted, request.META.get("HTTP_ACCEPT", "*/*"), tuple(type(renderer) for renderer in renderers))
        known = _choices.get(key)
        if known is not None:
            return renderers[known[0]], known[1]
        try:
            renderer, media_type = super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            renderer, media_type = renderers[0], renderers[0].media_type
        if len(_choices) >= _MAX_CHOICES:
            _choices.clear()
        _choices[key] = (next(index for index, candidate in enumerate(renderers) if candidate is renderer), media_type)
        return renderer, media_type
