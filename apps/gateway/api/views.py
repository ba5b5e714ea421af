"""Views of the OpenAI-compatible gateway.

The gateway speaks OpenAI's wire format, so it lives outside DRF: async views (no thread hop for
the stream itself) that authenticate with the same DRF authenticators and permissions.
"""
from __future__ import annotations

from django.http import HttpRequest, HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from apps.core.asgi import lean_without_cookies

from .. import handlers


@lean_without_cookies
@csrf_exempt
async def openai_chat_completions(request: HttpRequest) -> HttpResponseBase:
    """POST /api/v1/openai/chat/completions: OpenAI Chat Completions, streaming or not."""
    return await handlers.chat_completions(request)


@lean_without_cookies
@csrf_exempt
async def openai_models(request: HttpRequest) -> HttpResponseBase:
    """GET /api/v1/openai/models: the caller's models in OpenAI's list shape."""
    return await handlers.models(request)
