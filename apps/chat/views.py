"""Dashboard pages of chat: the chat page and the compare page (data comes from the JSON API)."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts.selectors import user_has_tool
from apps.core.errors import Forbidden


def _require(request: HttpRequest, tool: str) -> None:
    if not user_has_tool(request.user, tool):
        raise Forbidden(f"Your roles do not include {tool}.")


@login_required
def chat_page(request: HttpRequest) -> HttpResponse:
    """Conversations, folders and search on the left; the streaming conversation on the right."""
    _require(request, "chat")
    return render(request, "chat/chat.html", {"conversation_id": request.GET.get("c", "")})


@login_required
def compare_page(request: HttpRequest) -> HttpResponse:
    """Two models answering one prompt, streaming side by side."""
    _require(request, "compare")
    return render(request, "chat/compare.html")
