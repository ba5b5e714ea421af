"""Billing data: credit packages, credit accounts, the append-only ledger, reservations, Stripe records.

Money is in credits (1 credit = US$0.01), stored as decimals with six places because metered
LLM calls cost fractions of a credit. An account holds two buckets:

- `allowance`: this period's tier credits; the monthly reset (or a paid subscription invoice)
  sets it to the tier's `monthly_credits`, so unused allowance expires;
- `purchased`: credits bought, granted, earned or refunded; they never expire.

Spending draws from the allowance first. `held` is the sum of open reservations (a call in
flight); `available = allowance + purchased - held`. Database constraints keep every bucket
>= 0, so a balance can never go negative even if a service had a bug.
"""
from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, NoReturn, TypedDict

from django.db import models
from django.db.models import Q

ZERO = Decimal(0)


class DecimalDigits(TypedDict):
    """The precision keywords of a DecimalField, typed so `**CREDIT_DIGITS` type-checks."""

    max_digits: int
    decimal_places: int


CREDIT_DIGITS: DecimalDigits = {"max_digits": 18, "decimal_places": 6}


class CreditPackage(models.Model):
    """A one-time credit purchase (starter, pro, enterprise), admin-editable."""

    slug = models.SlugField(primary_key=True, max_length=40)
    name = models.CharField(max_length=80)
    credits = models.PositiveIntegerField()
    price_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    # Optional: a Price created in the Stripe dashboard; empty sends the price inline (price_data).
    stripe_price_id = models.CharField(max_length=100, blank=True, default="")
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "slug"]
        verbose_name = "credit package"

    def __str__(self) -> str:
        return f"{self.name} ({self.credits} credits)"


class CreditAccount(models.Model):
    """The credits of one user (or one workspace, when billing by workspace); rows are locked to move credits."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField("accounts.User", null=True, blank=True, on_delete=models.CASCADE, related_name="credit_account")
    workspace = models.OneToOneField("accounts.Workspace", null=True, blank=True, on_delete=models.CASCADE, related_name="credit_account")
    allowance = models.DecimalField(**CREDIT_DIGITS, default=ZERO, help_text="Tier credits left this period (expire at the reset).")
    purchased = models.DecimalField(**CREDIT_DIGITS, default=ZERO, help_text="Bought, granted or earned credits (never expire).")
    held = models.DecimalField(**CREDIT_DIGITS, default=ZERO, help_text="Reserved by calls in flight.")
    total_earned = models.DecimalField(**CREDIT_DIGITS, default=ZERO)
    total_spent = models.DecimalField(**CREDIT_DIGITS, default=ZERO)
    total_purchased = models.DecimalField(**CREDIT_DIGITS, default=ZERO)
    # The allowance period last granted: "2026-05" (calendar month) or "sub:<unix start>" (a paid invoice).
    period = models.CharField(max_length=40, blank=True, default="")
    period_started_at = models.DateTimeField(null=True, blank=True)
    stripe_customer_id = models.CharField(max_length=100, blank=True, default="", db_index=True)
    subscription_id = models.CharField(max_length=100, blank=True, default="")
    subscription_status = models.CharField(max_length=32, blank=True, default="")
    subscription_tier = models.CharField(max_length=40, blank=True, default="")
    # `created` (unix seconds) of the Stripe event that set the subscription state; older events never win.
    subscription_state_at = models.BigIntegerField(default=0)
    subscription_period_end = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "credit account"
        constraints = [
            models.CheckConstraint(condition=Q(allowance__gte=0), name="billing_account_allowance_gte_0"),
            models.CheckConstraint(condition=Q(purchased__gte=0), name="billing_account_purchased_gte_0"),
            models.CheckConstraint(condition=Q(held__gte=0), name="billing_account_held_gte_0"),
            models.CheckConstraint(
                condition=Q(user__isnull=False, workspace__isnull=True) | Q(user__isnull=True, workspace__isnull=False),
                name="billing_account_one_owner",
            ),
            models.UniqueConstraint(fields=["stripe_customer_id"], condition=~Q(stripe_customer_id=""), name="billing_account_customer_unique"),
        ]

    def __str__(self) -> str:
        return f"credits of {self.user or self.workspace}"

    @property
    def balance(self) -> Decimal:
        """Credits owned now (allowance + purchased), reservations not deducted."""
        return self.allowance + self.purchased

    @property
    def available(self) -> Decimal:
        """Credits a new call may reserve."""
        return self.allowance + self.purchased - self.held

    @property
    def has_live_subscription(self) -> bool:
        """True while a Stripe subscription pays for the tier (its invoices renew the allowance)."""
        return bool(self.subscription_id) and self.subscription_status in LIVE_SUBSCRIPTION_STATUSES


# Stripe subscription statuses that keep the paid tier (past_due is Stripe's retry window).
LIVE_SUBSCRIPTION_STATUSES = ("active", "trialing", "past_due")


class TransactionType(models.TextChoices):
    """Why credits moved."""

    USAGE = "usage", "Usage"        # metered model calls
    RESET = "reset", "Reset"        # the allowance set to the tier's monthly credits
    TOPUP = "topup", "Top-up"       # a credit package bought
    REFUND = "refund", "Refund"     # credits given back (+) or a refunded payment taken back (-)
    EARNED = "earned", "Earned"     # grants and marketplace earnings
    SPENT = "spent", "Spent"        # other spending (agent tasks, builds, ...)


class AppendOnlyError(Exception):
    """A ledger row was about to be changed or deleted."""


class CreditTransaction(models.Model):
    """One movement of credits; rows are only ever inserted (the ledger is append-only)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="transactions")
    type = models.CharField(max_length=10, choices=TransactionType.choices)
    amount = models.DecimalField(**CREDIT_DIGITS, help_text="Signed: credits in are positive, credits out negative.")
    balance_after = models.DecimalField(**CREDIT_DIGITS)
    reference = models.CharField(max_length=200, blank=True, default="")
    idempotency_key = models.CharField(max_length=200, unique=True)
    model_name = models.CharField(max_length=100, blank=True, default="")
    usage_record_id = models.UUIDField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "credit transaction"
        indexes = [
            models.Index(fields=["account", "-created_at"], name="billing_tx_account_created"),
            models.Index(fields=["account", "type", "-created_at"], name="billing_tx_account_type"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.amount} -> {self.balance_after}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Insert only."""
        if not self._state.adding:
            raise AppendOnlyError("Ledger rows are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Never."""
        raise AppendOnlyError("Ledger rows are append-only.")


class ReservationStatus(models.TextChoices):
    """Where a credit hold is in its life."""

    HELD = "held", "Held"
    SETTLED = "settled", "Settled"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"


class CreditReservation(models.Model):
    """Credits held for a call in flight: the most it can cost, settled to the metered cost afterwards."""

    # Set by credit_reserve, not stored: the output budget the hold covers, and whether it was lowered.
    max_tokens: int | None = None
    capped: bool = False

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="reservations")
    amount = models.DecimalField(**CREDIT_DIGITS)
    charged = models.DecimalField(**CREDIT_DIGITS, default=ZERO)
    # Metered cost above what the account could pay at settle time (never taken: balances stay >= 0).
    uncollected = models.DecimalField(**CREDIT_DIGITS, default=ZERO)
    status = models.CharField(max_length=10, choices=ReservationStatus.choices, default=ReservationStatus.HELD)
    reference = models.CharField(max_length=200, blank=True, default="")
    idempotency_key = models.CharField(max_length=200, unique=True)
    model_name = models.CharField(max_length=100, blank=True, default="")
    usage_record_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="billing_res_status_created")]

    def __str__(self) -> str:
        return f"{self.status} {self.amount}"


class StripeEvent(models.Model):
    """A Stripe webhook event, recorded once by its id (replays are answered 200 and ignored)."""

    id = models.CharField(primary_key=True, max_length=100)
    type = models.CharField(max_length=100)
    created = models.BigIntegerField(help_text="Stripe's `created`, unix seconds.")
    account = models.ForeignKey(CreditAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="stripe_events")
    outcome = models.CharField(max_length=200, blank=True, default="")
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = "Stripe event"

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class StripePayment(models.Model):
    """A one-time package payment, by PaymentIntent: credits granted and taken back, whatever the event order."""

    payment_intent = models.CharField(primary_key=True, max_length=100)
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="payments")
    package = models.ForeignKey(CreditPackage, null=True, blank=True, on_delete=models.SET_NULL)
    credits = models.DecimalField(**CREDIT_DIGITS)
    amount_cents = models.PositiveIntegerField(default=0)
    checkout_session_id = models.CharField(max_length=100, blank=True, default="")
    completed = models.BooleanField(default=False, help_text="The checkout completed and the credits were granted.")
    refunded_cents = models.PositiveIntegerField(default=0, help_text="The largest amount_refunded Stripe reported.")
    refunded_credits = models.DecimalField(**CREDIT_DIGITS, default=ZERO, help_text="Credits taken back so far.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.payment_intent} ({self.credits} credits)"
