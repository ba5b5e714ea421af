"""The page a credit ledger reference of the forge names (declared as `ledger_links` on its AppConfig)."""
from __future__ import annotations

import uuid

from django.urls import reverse


def build_url(ref: str) -> str | None:
    """`<build id>:<step>` -> the build's page."""
    try:
        build_id = uuid.UUID(ref.split(":", 1)[0])
    except ValueError:
        return None
    return reverse("forge:build", kwargs={"build_id": build_id})
