"""Agents pages and the platform's public A2A agent cards."""
from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from .gateway import platform_card_json


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


@require_GET
def agent_card_v1(request: HttpRequest) -> JsonResponse:
    """/.well-known/agent-card.json: Nexus as an A2A agent (v1.0 card); public, like every agent card."""
    return JsonResponse(platform_card_json(base_url=_base_url(request), version="1.0"))


@require_GET
def agent_card_v03(request: HttpRequest) -> JsonResponse:
    """/.well-known/agent.json: the same card in the v0.3 shape."""
    return JsonResponse(platform_card_json(base_url=_base_url(request), version="0.3"))
