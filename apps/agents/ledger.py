"""The page a credit ledger reference of the agents names (declared as `ledger_links` on its AppConfig)."""
from __future__ import annotations

from collections.abc import Sequence

from django.urls import reverse

from apps.core.registry import ledger_ids


def task_urls(refs: Sequence[str]) -> dict[str, str]:
    """`<task id>` (a hold, a charge or the agent's earning) -> the task console."""
    return {ref: reverse("agents:task", kwargs={"task_id": task_id}) for ref, task_id in ledger_ids(refs).items()}
