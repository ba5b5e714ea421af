"""Template context shared by every dashboard page."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from apps.core.registry import navigation_entries


def __getattr__(name: str) -> Any:
    # NAVIGATION, as (label, url name, tool or None), is read from the apps (apps.core.registry).
    if name == "NAVIGATION":
        return [(entry.label, entry.url_name, entry.tool) for entry in navigation_entries()]
    raise AttributeError(name)


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The navigation entries for the signed-in user."""
    from apps.accounts.selectors import user_has_tool

    user = getattr(request, "user", None)
    items = [
        {"label": entry.label, "url_name": entry.url_name, "section": entry.section}
        for entry in navigation_entries()
        if entry.tool is None or user_has_tool(user, entry.tool)  # a page of a tool the roles lack is not offered
    ]
    return {
        "nav_items": [item for item in items if item["section"] != "account"],
        "account_nav_items": [item for item in items if item["section"] == "account"],
    }
