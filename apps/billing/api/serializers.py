"""Serializers of the billing API."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.serializers import ModelSerializer, Serializer, StrictCharField

from ..models import CreditTransaction


def credit_field(**kwargs: Any) -> serializers.DecimalField:
    """Credits as a JSON number (six decimal places at most)."""
    return serializers.DecimalField(max_digits=18, decimal_places=6, coerce_to_string=False, **kwargs)


class CreditTransactionSerializer(ModelSerializer):
    """One ledger row."""

    amount = credit_field()
    balance_after = credit_field()

    class Meta:
        model = CreditTransaction
        fields = ["id", "type", "amount", "balance_after", "reference", "model_name", "created_at"]
        read_only_fields = fields


class SubscriptionSerializer(Serializer):
    """The caller's Stripe subscription, when they have one."""

    status = StrictCharField(allow_null=True)
    tier = StrictCharField(allow_null=True)
    current_period_end = serializers.DateTimeField(allow_null=True)


class BalanceSerializer(Serializer):
    """`GET /billing/balance`."""

    balance = credit_field()
    available = credit_field(help_text="balance minus credits reserved by calls in flight")
    reserved = credit_field()
    allowance = credit_field(help_text="this period's tier credits left (they expire at the monthly reset)")
    purchased = credit_field(help_text="bought, granted or earned credits (never expire)")
    total_earned = credit_field()
    total_spent = credit_field()
    total_purchased = credit_field()
    tier = StrictCharField()
    period = StrictCharField()
    subscription = SubscriptionSerializer(allow_null=True)


class UsageDaySerializer(Serializer):
    """Credits of one day."""

    date = serializers.DateField()
    spent = credit_field()
    earned = credit_field()
    purchased = credit_field()
    by_model = serializers.DictField(child=credit_field())


class UsageSerializer(Serializer):
    """`GET /billing/usage`."""

    period = StrictCharField()
    daily = UsageDaySerializer(many=True)
    total_spent = credit_field()
    total_earned = credit_field()
    total_purchased = credit_field()


class TierPlanSerializer(Serializer):
    """A tier in the plan list."""

    id = StrictCharField()
    name = StrictCharField()
    monthly_credits = serializers.IntegerField()
    price_cents = serializers.IntegerField()
    currency = StrictCharField()


class PackagePlanSerializer(Serializer):
    """A credit package in the plan list."""

    id = StrictCharField()
    name = StrictCharField()
    credits = serializers.IntegerField()
    price_cents = serializers.IntegerField()
    currency = StrictCharField()


class PlansSerializer(Serializer):
    """`GET /billing/plans`."""

    tiers = TierPlanSerializer(many=True)
    packages = PackagePlanSerializer(many=True)


class InvoiceSerializer(Serializer):
    """A Stripe invoice of the caller."""

    id = StrictCharField()
    number = StrictCharField(allow_null=True)
    amount = serializers.IntegerField(allow_null=True, help_text="cents")
    currency = StrictCharField(allow_null=True)
    status = StrictCharField(allow_null=True)
    date = serializers.DateTimeField(allow_null=True)
    invoice_url = StrictCharField(allow_null=True)
    invoice_pdf = StrictCharField(allow_null=True)
    description = StrictCharField(allow_null=True)


class UrlSerializer(Serializer):
    """A URL to send the browser to."""

    url = serializers.URLField()
