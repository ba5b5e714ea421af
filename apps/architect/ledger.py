"""The page a credit ledger reference of the architect names (declared as `ledger_links` on its AppConfig)."""
from __future__ import annotations

import uuid

from django.urls import reverse


def execution_url(ref: str) -> str | None:
    """`<execution id>:<prompt id>` -> the execution's run page."""
    try:
        execution_id = uuid.UUID(ref.split(":", 1)[0])
    except ValueError:
        return None
    return reverse("architect:run", kwargs={"execution_id": execution_id})
