"""Reads of the billing app, always scoped to the caller's own credit account."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.core.errors import ValidationError

from .models import ZERO, CreditPackage, CreditTransaction, TransactionType
from .services import credit_account_for

if TYPE_CHECKING:
    from apps.accounts.models import User

USAGE_PERIODS = {"7d": 7, "30d": 30, "90d": 90}
SPENDING_TYPES = (TransactionType.USAGE, TransactionType.SPENT)
EARNING_TYPES = (TransactionType.EARNED, TransactionType.RESET)


def balance_for(*, user: User) -> dict[str, Any]:
    """The caller's balance, totals and tier."""
    account = credit_account_for(user=user)
    return {
        "balance": account.balance,
        "available": account.available,
        "reserved": account.held,
        "allowance": account.allowance,
        "purchased": account.purchased,
        "total_earned": account.total_earned,
        "total_spent": account.total_spent,
        "total_purchased": account.total_purchased,
        "tier": user.tier_id,
        "period": account.period,
        "subscription": {"status": account.subscription_status or None, "tier": account.subscription_tier or None,
                         "current_period_end": account.subscription_period_end} if account.subscription_id else None,
    }


def transaction_list(*, user: User, type: str | None = None) -> QuerySet[CreditTransaction]:
    """The caller's ledger rows, newest first, optionally of one type (an unknown type is 400)."""
    account = credit_account_for(user=user)
    queryset = CreditTransaction.objects.filter(account=account)
    if type:
        if type not in TransactionType.values:
            raise ValidationError(f"Unknown transaction type {type!r}.", details={"type": [f"Must be one of {', '.join(TransactionType.values)}."]})
        queryset = queryset.filter(type=type)
    return queryset.order_by("-created_at", "-id")


def usage_series(*, user: User, period: str = "30d", today: date | None = None) -> dict[str, Any]:
    """Daily credits spent (and by model), earned and purchased over the last 7, 30 or 90 days, zero-filled."""
    if period not in USAGE_PERIODS:
        raise ValidationError("`period` is 7d, 30d or 90d.", details={"period": [f"Must be one of {', '.join(USAGE_PERIODS)}."]})
    days = USAGE_PERIODS[period]
    today = today or timezone.now().date()
    first = today - timedelta(days=days - 1)
    account = credit_account_for(user=user)
    rows = (CreditTransaction.objects.filter(account=account, created_at__date__gte=first, created_at__date__lte=today)
            .annotate(day=TruncDate("created_at"))
            .values("day", "type", "model_name")
            .annotate(total=Sum("amount")))
    daily: dict[date, dict[str, Any]] = {
        first + timedelta(days=offset): {"spent": ZERO, "earned": ZERO, "purchased": ZERO, "by_model": {}} for offset in range(days)
    }
    for row in rows:
        bucket = daily.get(row["day"])
        if bucket is None:
            continue
        total: Decimal = row["total"] or ZERO
        if row["type"] in SPENDING_TYPES:
            bucket["spent"] -= total
            name = row["model_name"] or ("other" if row["type"] == TransactionType.SPENT else "unknown")
            bucket["by_model"][name] = bucket["by_model"].get(name, ZERO) - total
        elif row["type"] in EARNING_TYPES and total > 0:
            bucket["earned"] += total
        elif row["type"] == TransactionType.TOPUP:
            bucket["purchased"] += total
    series = [{"date": day.isoformat(), **values} for day, values in sorted(daily.items())]
    return {
        "period": period,
        "daily": series,
        "total_spent": sum((d["spent"] for d in series), ZERO),
        "total_earned": sum((d["earned"] for d in series), ZERO),
        "total_purchased": sum((d["purchased"] for d in series), ZERO),
    }


def plan_list() -> dict[str, list[dict[str, Any]]]:
    """Tiers and active credit packages, cheapest first."""
    from apps.accounts.models import Tier

    tiers = [{"id": t.slug, "name": t.name, "monthly_credits": t.monthly_credits, "price_cents": t.price_cents, "currency": t.currency}
             for t in Tier.objects.order_by("position", "slug")]
    packages = [{"id": p.slug, "name": p.name, "credits": p.credits, "price_cents": p.price_cents, "currency": p.currency}
                for p in CreditPackage.objects.filter(active=True).order_by("position", "slug")]
    return {"tiers": tiers, "packages": packages}
