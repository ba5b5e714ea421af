"""The page a credit ledger reference of the architect names (declared as `ledger_links` on its AppConfig)."""
from __future__ import annotations

from collections.abc import Sequence

from django.urls import reverse

from apps.core.registry import ledger_ids


def execution_urls(refs: Sequence[str]) -> dict[str, str]:
    """`<execution id>:<prompt id>` -> the execution's run page."""
    return {ref: reverse("architect:run", kwargs={"execution_id": execution_id}) for ref, execution_id in ledger_ids(refs).items()}
