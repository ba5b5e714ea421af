"""Content negotiation: never a 406, and a remembered choice is the one DRF would make for that request."""
from __future__ import annotations

from typing import Any

from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from apps.core.negotiation import EnvelopeContentNegotiation


def _pick(accept: str, **query: str) -> tuple[Any, str, list[Any]]:
    renderers = [JSONRenderer(), BrowsableAPIRenderer()]
    request = Request(APIRequestFactory().get("/api/v1/x", query, HTTP_ACCEPT=accept))
    renderer, media_type = EnvelopeContentNegotiation().select_renderer(request, renderers)
    return renderer, media_type, renderers


def test_each_request_gets_its_own_choice_among_its_own_renderers() -> None:
    for _ in range(2):  # worked out, then remembered: the same answers
        renderer, media_type, renderers = _pick("text/html")
        assert renderer is renderers[1] and media_type == "text/html"
        renderer, media_type, renderers = _pick("application/json; indent=4")
        assert renderer is renderers[0] and media_type == "application/json; indent=4"
        renderer, media_type, renderers = _pick("text/event-stream")  # unmatched: JSON, not 406
        assert renderer is renderers[0] and media_type == "application/json"
        renderer, media_type, renderers = _pick("text/html", format="json")  # ?format= wins over Accept
        assert renderer is renderers[0]
