"""The page a credit ledger reference of workflows names (declared as `ledger_links` on its AppConfig)."""
from __future__ import annotations

from collections.abc import Sequence

from django.urls import reverse

from apps.core.registry import ledger_ids

from .models import Run


def workflow_urls(refs: Sequence[str]) -> dict[str, str]:
    """`<run id>:<step index>:<attempt>` -> the editor of the run's workflow (it shows the runs); one query."""
    run_ids = ledger_ids(refs)
    if not run_ids:
        return {}
    workflows = dict(Run.objects.filter(pk__in=set(run_ids.values())).values_list("pk", "workflow_id"))
    return {ref: reverse("workflows:editor", kwargs={"workflow_id": workflows[run_id]})
            for ref, run_id in run_ids.items() if run_id in workflows}
