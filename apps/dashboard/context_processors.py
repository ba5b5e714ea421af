"""Template context shared by every dashboard page."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest

# (label, url name, tool the entry needs or None); apps add their pages here as they land.
NAVIGATION: list[tuple[str, str, str | None]] = [
    ("Home", "dashboard:home", None),
]


def navigation(request: HttpRequest) -> dict[str, Any]:
    """The navigation entries for the signed-in user."""
    return {"nav_items": [{"label": label, "url_name": url_name} for label, url_name, _tool in NAVIGATION]}
