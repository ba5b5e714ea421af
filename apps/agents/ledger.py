"""The page a credit ledger reference of the agents names (declared as `ledger_links` on its AppConfig)."""
from __future__ import annotations

import uuid

from django.urls import reverse


def task_url(ref: str) -> str | None:
    """`<task id>` (a hold, a charge or the agent's earning) -> the task console."""
    try:
        task_id = uuid.UUID(ref.split(":", 1)[0])
    except ValueError:
        return None
    return reverse("agents:task", kwargs={"task_id": task_id})
