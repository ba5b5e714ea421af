"""Template context shared by every dashboard page."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest

# (label, url name, tool the entry needs or None); apps add their pages here as they land.
NAVIGATION: list[tuple[str, str, str | None]] = [
    ("Home", "dashboard:home", None),
    ("Knowledge", "knowledge:repositories", "knowledge"),
    ("Retrieval debugger", "knowledge:debugger", "knowledge"),
    ("Architect", "architect:tools", "assistant-architect"),
    ("Chat", "chat:chat", "chat"),
    ("Compare", "chat:compare", "compare"),
    ("Workspaces", "accounts:workspaces", None),
    ("API keys", "accounts:keys", None),
    ("Profile", "accounts:profile", None),
    ("Billing", "billing:page", None),
]


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The navigation entries for the signed-in user."""
    from apps.accounts.selectors import user_has_tool

    user = getattr(request, "user", None)
    return {
        "nav_items": [
            {"label": label, "url_name": url_name}
            for label, url_name, tool in NAVIGATION
            if tool is None or user_has_tool(user, tool)  # a page of a tool the roles lack is not offered
        ]
    }
