"""Reads of the llm app, scoped to the caller: models by tier, admin lists, usage metrics.

The registry of usable models is read on every model call, so each process keeps a snapshot
(`ModelEntry`, provider key decrypted in memory only) for `LLM_REGISTRY_CACHE_SECONDS`. Admin
writes bump a version in the shared cache, which every process checks at most once a second, so
an edit reaches all processes within about a second.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Aggregate, Count, FloatField, Q, QuerySet, Sum

from apps.core.db import forbid_on_loop
from apps.core.errors import Forbidden

from .access import is_admin, tier_of
from .crypto import decrypt_secret
from .errors import ModelNotFound, ModelNotInTier
from .models import LlmModel, ProviderConnection, ProviderKind, UsageRecord, UsageStatus
from .providers.base import ProviderSettings

if TYPE_CHECKING:
    from apps.accounts.models import User

REGISTRY_VERSION_KEY = "llm:registry:version"
VERSION_CHECK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """A usable model with everything a call needs, detached from the ORM."""

    id: uuid.UUID
    name: str
    provider_name: str
    provider_kind: str
    provider_model: str
    capabilities: tuple[str, ...]
    input_cost: Decimal
    output_cost: Decimal
    context_window: int
    max_output_tokens: int
    tiers: tuple[str, ...]
    provider: ProviderSettings
    audio_cost_per_minute: Decimal = Decimal(0)

    def allows_tier(self, tier: str) -> bool:
        """True when `tier` may use this model (no tiers listed: every tier)."""
        return not self.tiers or tier in self.tiers


class _Registry:
    """This process's snapshot of usable models, by name and by id."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_name: dict[str, ModelEntry] = {}
        self.by_id: dict[str, ModelEntry] = {}
        self.loaded_at = 0.0
        self.checked_at = 0.0
        self.version: Any = None

    def _load(self) -> None:
        entries: list[ModelEntry] = []
        rows = LlmModel.objects.filter(active=True, provider__active=True).select_related("provider")
        for row in rows:
            provider = row.provider
            if not provider.is_usable:
                continue
            api_key = decrypt_secret(provider.api_key_encrypted) if provider.api_key_encrypted else ""
            entries.append(ModelEntry(
                id=row.id, name=row.name, provider_name=provider.name, provider_kind=provider.kind, provider_model=row.provider_model,
                capabilities=tuple(row.capabilities), input_cost=row.input_cost, output_cost=row.output_cost,
                context_window=row.context_window, max_output_tokens=row.max_output_tokens, tiers=tuple(row.tiers),
                provider=ProviderSettings(name=provider.name, kind=provider.kind, base_url=provider.base_url, api_key=api_key,
                                          timeout=provider.timeout_seconds),
                audio_cost_per_minute=row.audio_cost_per_minute,
            ))
        self.by_name = {entry.name: entry for entry in entries}
        self.by_id = {str(entry.id): entry for entry in entries}

    def snapshot(self) -> _Registry:
        """Reload when stale or when another process changed the registry."""
        now = time.monotonic()
        if now - self.checked_at < VERSION_CHECK_SECONDS and now - self.loaded_at < settings.LLM_REGISTRY_CACHE_SECONDS:
            return self
        forbid_on_loop("Checking the model registry's version")  # a cache read, and maybe a reload
        with self.lock:
            try:
                version = cache.get(REGISTRY_VERSION_KEY)
            except Exception:  # the cache is down: fall back on the TTL alone
                version = self.version
            if version != self.version or now - self.loaded_at >= settings.LLM_REGISTRY_CACHE_SECONDS or not self.loaded_at:
                self._load()
                self.loaded_at = now
                self.version = version
            self.checked_at = now
        return self

    def forget(self) -> None:
        """Drop the snapshot so the next read reloads."""
        with self.lock:
            self.loaded_at = 0.0
            self.checked_at = 0.0


registry = _Registry()


def registry_changed() -> None:
    """Tell every process that providers or models changed (called by the services after commit)."""
    registry.forget()
    try:
        cache.set(REGISTRY_VERSION_KEY, uuid.uuid4().hex, None)
    except Exception:  # other processes pick the change up within the TTL
        pass


def model_entry_lookup(model: Any) -> ModelEntry:
    """A usable model by LlmModel, id or name; inactive or unknown answers 404."""
    snapshot = registry.snapshot()
    if isinstance(model, LlmModel):
        key: Any = str(model.id)
    elif isinstance(model, ModelEntry):
        key = str(model.id)
    else:
        key = str(model or "")
    entry = snapshot.by_id.get(key) or snapshot.by_name.get(key)
    if entry is None:
        raise ModelNotFound(f"Model '{key}' does not exist or is not active." if key else "A model is required.")
    return entry


def model_resolve_for_user(*, user: User, model: Any) -> ModelEntry:
    """The model the caller asked for, if it exists (404) and their tier may use it (403)."""
    entry = model_entry_lookup(model)
    tier = tier_of(user)
    if not entry.allows_tier(tier):
        raise ModelNotInTier(f"The '{tier}' tier does not include the model '{entry.name}'.")
    return entry


def model_list_for_user(*, user: User) -> list[ModelEntry]:
    """Usable models the caller's tier may use, by name."""
    tier = tier_of(user)
    return sorted((entry for entry in registry.snapshot().by_name.values() if entry.allows_tier(tier)), key=lambda e: e.name)


def _require_admin(user: User) -> None:
    if not is_admin(user):
        raise Forbidden("This needs the `admin` role.")


def provider_list(*, user: User) -> QuerySet[ProviderConnection]:
    """Every provider connection (admins only)."""
    _require_admin(user)
    return ProviderConnection.objects.all()


def model_list_admin(*, user: User) -> QuerySet[LlmModel]:
    """Every registered model, usable or not (admins only)."""
    _require_admin(user)
    return LlmModel.objects.select_related("provider").all()


def providers_without_keys() -> bool:
    """True when no provider but the offline responder can serve a model (the dashboard says how to add one)."""
    return not any(p.is_usable for p in ProviderConnection.objects.exclude(kind=ProviderKind.LOCAL))


class PercentileCont(Aggregate):
    """PostgreSQL's percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=float(fraction), **extra)


def usage_metrics(*, user: User, since: datetime, until: datetime) -> dict[str, Any]:
    """Requests, tokens, cost, error rate, latency and TTFT percentiles per model (admins only)."""
    _require_admin(user)
    rows = (
        UsageRecord.objects.filter(created_at__gte=since, created_at__lt=until)
        .values("model_name")
        .annotate(
            requests=Count("id"),
            errors=Count("id", filter=Q(status=UsageStatus.FAILED)),
            stopped=Count("id", filter=Q(status=UsageStatus.STOPPED)),
            prompt_tokens=Sum("prompt_tokens"),
            completion_tokens=Sum("completion_tokens"),
            reasoning_tokens=Sum("reasoning_tokens"),
            cost=Sum("cost"),
            latency_p50=PercentileCont("latency_ms", 0.5),
            latency_p95=PercentileCont("latency_ms", 0.95),
            latency_p99=PercentileCont("latency_ms", 0.99),
            ttft_p50=PercentileCont("ttft_ms", 0.5),
            ttft_p95=PercentileCont("ttft_ms", 0.95),
            ttft_p99=PercentileCont("ttft_ms", 0.99),
        )
        .order_by("model_name")
    )
    models = []
    totals: dict[str, Any] = {"requests": 0, "errors": 0, "stopped": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": Decimal(0)}
    for row in rows:
        models.append({
            "model": row["model_name"],
            "requests": row["requests"],
            "errors": row["errors"],
            "stopped": row["stopped"],
            "error_rate": round(row["errors"] / row["requests"], 4) if row["requests"] else 0.0,
            "prompt_tokens": row["prompt_tokens"] or 0,
            "completion_tokens": row["completion_tokens"] or 0,
            "reasoning_tokens": row["reasoning_tokens"] or 0,
            "cost": float(row["cost"] or 0),
            "latency_ms": _percentiles(row, "latency"),
            "ttft_ms": _percentiles(row, "ttft"),
        })
        for name in ("requests", "errors", "stopped", "prompt_tokens", "completion_tokens"):
            totals[name] += row[name] or 0
        totals["cost"] += row["cost"] or Decimal(0)
    requests = int(totals["requests"])
    return {
        "since": since,
        "until": until,
        "totals": {**totals, "cost": float(totals["cost"]), "error_rate": round(int(totals["errors"]) / requests, 4) if requests else 0.0},
        "models": models,
    }


def _percentiles(row: Mapping[str, Any], prefix: str) -> dict[str, float | None]:
    return {f"p{q}": (round(row[f"{prefix}_p{q}"], 1) if row[f"{prefix}_p{q}"] is not None else None) for q in (50, 95, 99)}


def usage_record_for_request(*, request_id: str, user_id: Any = None, since: datetime | None = None,
                             prefix: bool = False) -> UsageRecord | None:
    """The newest usage record of one model call, found by the call's request id (or its prefix: any attempt of it)."""
    records = UsageRecord.objects.filter(**{"request_id__startswith" if prefix else "request_id": request_id})
    if user_id is not None:
        records = records.filter(user_id=user_id)
    if since is not None:
        records = records.filter(created_at__gte=since)
    return records.order_by("-created_at").first()


def usage_summary(record: UsageRecord | None) -> dict[str, Any] | None:
    """A usage record as runs save it on their rows and send it in their events."""
    if record is None:
        return None
    return {
        "prompt_tokens": record.prompt_tokens, "completion_tokens": record.completion_tokens,
        "reasoning_tokens": record.reasoning_tokens, "total_tokens": record.total_tokens,
        "cost": float(record.cost), "usage_record_id": str(record.pk),
    }
