"""The `providers` health check: each active provider's state, from the database, cached.

No provider is called per health request: a provider is `ok` when it is configured and its
recent calls (the last few minutes of usage records) are not all failing, `degraded` when they
are, `not_configured` when it has no key. The result is cached for `CACHE_SECONDS`.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Q
from django.utils import timezone

from .models import ProviderConnection, UsageRecord, UsageStatus

CACHE_KEY = "health:providers"
CACHE_SECONDS = 30
RECENT = timedelta(minutes=5)


def check_providers() -> dict[str, Any]:
    """The health report's `providers` entry."""
    cached = cache.get(CACHE_KEY)
    if cached is not None:
        return cached
    since = timezone.now() - RECENT
    recent = {
        row["provider_name"]: row
        for row in UsageRecord.objects.filter(created_at__gte=since).values("provider_name")
        .annotate(calls=Count("id"), failed=Count("id", filter=Q(status=UsageStatus.FAILED)))
    }
    providers = []
    for provider in ProviderConnection.objects.filter(active=True).order_by("name"):
        stats = recent.get(provider.name, {"calls": 0, "failed": 0})
        if not provider.is_usable:
            status = "not_configured"
        elif stats["calls"] >= 3 and stats["failed"] == stats["calls"]:
            status = "degraded"
        else:
            status = "ok"
        entry: dict[str, Any] = {"name": provider.name, "kind": provider.kind, "status": status,
                                 "recent_calls": stats["calls"], "recent_failures": stats["failed"]}
        if provider.last_checked_at is not None:
            entry["last_test_ok"] = provider.last_check_ok
        providers.append(entry)
    usable = [p for p in providers if p["status"] != "not_configured"]
    if not usable:
        overall = "not_configured"
    elif any(p["status"] == "degraded" for p in usable):
        overall = "degraded"
    else:
        overall = "ok"
    result = {"status": overall, "providers": providers}
    cache.set(CACHE_KEY, result, CACHE_SECONDS)
    return result
