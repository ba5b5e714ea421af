"""Voice page: push to talk, streamed over WS /ws/voice/{session_id}, the reply played with its transcript beside it."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts.selectors import user_has_tool


@login_required
def home_page(request: HttpRequest) -> HttpResponse:
    """The push-to-talk page (it starts a session through the API)."""
    if not user_has_tool(request.user, "voice"):
        raise PermissionDenied("Your roles do not include voice.")
    return render(request, "voice/home.html", {})
