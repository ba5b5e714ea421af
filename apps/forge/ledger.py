"""The page a credit ledger reference of the forge names (declared as `ledger_links` on its AppConfig)."""
from __future__ import annotations

from collections.abc import Sequence

from django.urls import reverse

from apps.core.registry import ledger_ids


def build_urls(refs: Sequence[str]) -> dict[str, str]:
    """`<build id>:<step>` -> the build's page."""
    return {ref: reverse("forge:build", kwargs={"build_id": build_id}) for ref, build_id in ledger_ids(refs).items()}
