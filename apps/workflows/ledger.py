"""The page a credit ledger reference of workflows names (declared as `ledger_links` on its AppConfig)."""
from __future__ import annotations

import uuid

from django.urls import reverse

from .models import Run


def workflow_url(ref: str) -> str | None:
    """`<run id>:<step index>:<attempt>` -> the editor of the run's workflow (it shows the runs)."""
    try:
        run_id = uuid.UUID(ref.split(":", 1)[0])
    except ValueError:
        return None
    workflow_id = Run.objects.filter(pk=run_id).values_list("workflow_id", flat=True).first()
    if workflow_id is None:
        return None
    return reverse("workflows:editor", kwargs={"workflow_id": workflow_id})
