"""Forge reads, scoped to the caller: a build and its files and deployment belong to the user who started it."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from apps.core.runs import cancel_key
from apps.core.selectors import get_or_404
from apps.core.streams import stream_key

from .models import RUNNING_STATUSES, Build, BuildStatus, Deployment, DeploymentStatus, Template

if TYPE_CHECKING:
    from apps.accounts.models import User


def build_list(*, user: User, status: str | None = None, search: str | None = None) -> QuerySet[Build]:
    """The caller's builds, newest first; `search` looks in the prompt and the app's name."""
    if user is None or not getattr(user, "is_authenticated", False):
        return Build.objects.none()
    queryset = Build.objects.filter(owner_id=user.pk).select_related("deployment")
    if status:
        queryset = queryset.filter(status=status)
    if search:
        queryset = queryset.filter(Q(prompt__icontains=search) | Q(app_name__icontains=search))
    return queryset


def build_get(*, user: User, build_id: Any) -> Build:
    """One of the caller's builds, else 404."""
    return get_or_404(build_list(user=user), "Build not found.", pk=build_id)


def running_count(*, user: User) -> int:
    """How many of the caller's builds have not ended."""
    return Build.objects.filter(owner_id=user.pk, status__in=RUNNING_STATUSES).count()


def template_list() -> QuerySet[Template]:
    """The active templates, in catalogue order."""
    return Template.objects.filter(active=True)


def template_get(*, template_id: Any) -> Template:
    """An active template, else 404."""
    return get_or_404(template_list(), "Template not found.", pk=str(template_id or ""))


def deployment_by_slug(*, slug: str) -> Deployment | None:
    """The live deployment served at /apps/<slug>/ (None when unknown or undeployed)."""
    return Deployment.objects.filter(slug=slug, status=DeploymentStatus.DEPLOYED).first()


def build_stream_key(build_id: Any) -> str:
    """The Redis stream of a build's WebSocket events."""
    return stream_key("forge", build_id)


def build_cancel_key(build_id: Any) -> str:
    """The cancel flag (apps.core.runs) that asks the worker running a build to stop."""
    return cancel_key("forge", build_id)


def _median(values: list[Any]) -> float | None:
    if not values:
        return None
    ordered = sorted(float(v) for v in values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def build_statistics(*, days: int = 30) -> dict[str, Any]:
    """Admin figures: builds per day and month, success rate, median time and cost, builds running now."""
    since = timezone.now() - timedelta(days=days)
    recent = Build.objects.filter(created_at__gte=since)
    per_day = [{"date": row["day"].isoformat(), "builds": row["n"]}
               for row in recent.annotate(day=TruncDate("created_at")).values("day").annotate(n=Count("id")).order_by("day")]
    per_month = [{"month": row["month"].strftime("%Y-%m"), "builds": row["n"]}
                 for row in Build.objects.annotate(month=TruncMonth("created_at")).values("month").annotate(n=Count("id")).order_by("month")]
    ended = recent.filter(status__in=[BuildStatus.COMPLETED, BuildStatus.FAILED])
    completed = list(recent.filter(status=BuildStatus.COMPLETED).values_list("started_at", "finished_at", "cost"))
    total_ended = ended.count()
    return {
        "period_days": days,
        "builds_per_day": per_day,
        "builds_per_month": per_month,
        "total": recent.count(),
        "completed": len(completed),
        "failed": recent.filter(status=BuildStatus.FAILED).count(),
        "cancelled": recent.filter(status=BuildStatus.CANCELLED).count(),
        "success_rate": round(len(completed) / total_ended, 4) if total_ended else None,
        "median_seconds": _median([(end - start).total_seconds() for start, end, _ in completed if start and end]),
        "median_cost": _median([cost or Decimal(0) for _, _, cost in completed]),
        "active_sessions": Build.objects.filter(status__in=RUNNING_STATUSES).count(),
    }
