"""Stripe webhook events, each applied exactly once, in any order, under duplicates.

`stripe_event_apply` inserts the event id and applies its effect in ONE database transaction:
a duplicate (a retry, a replay, a concurrent delivery) fails the primary-key insert and changes
nothing. Effects are also order-independent:

- package payments are tracked per PaymentIntent (`StripePayment`): the top-up is granted once,
  refunds are cumulative (`amount_refunded`) and taken back as the difference to what was
  already taken, so a refund that arrives before its checkout is applied when the checkout lands;
- subscription state (tier, status) only moves forward: an event older (`created`) than the one
  that set the current state is recorded and ignored, and a cancellation of a subscription that is
  no longer the account's current one never downgrades the newer one;
- renewals (`invoice.paid`) set the allowance for the invoice's period once per invoice, and a
  period older than the account's current one changes nothing.

Bad data (an unknown user or package) is recorded with its outcome and answered 200, because
Stripe would otherwise retry it for days; unexpected errors roll back so Stripe retries.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction

from .models import LIVE_SUBSCRIPTION_STATUSES, CreditAccount, CreditPackage, StripeEvent, StripePayment, TransactionType
from .services import (
    QUANTUM,
    credit_account_for,
    credit_allowance_set,
    credit_grant,
    credit_take_back,
    credits,
    tier_monthly_credits,
)
from .stripe_gateway import webhook_event_verify

if TYPE_CHECKING:
    from apps.accounts.models import User

logger = logging.getLogger("nexus.billing")

Outcome = tuple[str, CreditAccount | None]


def stripe_webhook_receive(*, payload: bytes, signature: str | None) -> tuple[StripeEvent, bool]:
    """Verify a webhook body (400 when the signature is bad or stale) and apply its event once."""
    event = webhook_event_verify(payload=payload, signature=signature)
    return stripe_event_apply(event=event)


def stripe_event_apply(*, event: dict[str, Any]) -> tuple[StripeEvent, bool]:
    """Record the event and apply it, atomically; returns (record, applied now). A seen id changes nothing."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = StripeEvent.objects.create(id=event["id"], type=event["type"], created=int(event.get("created") or 0), payload=event)
        except IntegrityError:
            return StripeEvent.objects.get(pk=event["id"]), False
        handler = HANDLERS.get(event["type"])
        obj = (event.get("data") or {}).get("object") or {}
        outcome, account = handler(obj, event) if handler else ("ignored: event type not handled", None)
        record.outcome, record.account = outcome[:200], account
        record.save(update_fields=["outcome", "account"])
    logger.info("Stripe event %s %s: %s", event["type"], event["id"], outcome)
    return record, True


# ------------------------------------------------------------------------------
# Who an event is about
# ------------------------------------------------------------------------------
def _user(user_id: Any) -> User | None:
    from apps.accounts.models import User

    if not user_id:
        return None
    try:
        return User.objects.filter(pk=str(user_id)).first()
    except Exception:  # not a UUID
        return None


def _account_by_customer(customer: Any) -> CreditAccount | None:
    if isinstance(customer, dict):
        customer = customer.get("id")
    if not customer:
        return None
    return CreditAccount.objects.filter(stripe_customer_id=str(customer)).first()


def _account_for(*, customer: Any, metadata: dict[str, Any] | None) -> CreditAccount | None:
    """The account of a Stripe customer we created, else of the user named in server-set metadata."""
    account = _account_by_customer(customer)
    if account is not None:
        return account
    user = _user((metadata or {}).get("user_id"))
    if user is None:
        return None
    account = credit_account_for(user=user)
    if customer and not account.stripe_customer_id:
        CreditAccount.objects.filter(pk=account.pk, stripe_customer_id="").update(stripe_customer_id=str(customer))
    return account


def _id(value: Any) -> str:
    """An expandable field's id (Stripe sends a string, or an object when expanded)."""
    if isinstance(value, dict):
        value = value.get("id")
    return str(value or "")


def _tier_of_price(price: Any) -> str:
    """A tier slug from a price: the configured price ids, then the price's lookup_key or metadata."""
    if not isinstance(price, dict):
        price_id = str(price or "")
        return {v: k for k, v in settings.STRIPE_TIER_PRICE_IDS.items() if v}.get(price_id, "") if price_id else ""
    by_id = {v: k for k, v in settings.STRIPE_TIER_PRICE_IDS.items() if v}.get(str(price.get("id") or ""))
    return by_id or _known_tier(price.get("lookup_key")) or _known_tier((price.get("metadata") or {}).get("tier"))


def _known_tier(slug: Any) -> str:
    from apps.accounts.models import Tier

    return str(slug) if slug and Tier.objects.filter(slug=str(slug)).exists() else ""


def _first(items: Any) -> dict[str, Any]:
    data = (items or {}).get("data") if isinstance(items, dict) else None
    return data[0] if data else {}


# ------------------------------------------------------------------------------
# One-time package payments and their refunds
# ------------------------------------------------------------------------------
def _payment_lock(*, payment_intent: str, account: CreditAccount, package: CreditPackage | None, amount_cents: int) -> StripePayment:
    """The payment row, created on first sight and locked (the account row is locked first)."""
    CreditAccount.objects.select_for_update().get(pk=account.pk)
    payment = StripePayment.objects.select_for_update().filter(pk=payment_intent).first()
    if payment is None:
        payment = StripePayment.objects.create(payment_intent=payment_intent, account=account, package=package,
                                               credits=credits(package.credits if package else 0), amount_cents=amount_cents)
    return payment


def _refund_apply(payment: StripePayment) -> Decimal:
    """Take back the credits of the refunded share not yet taken back; returns credits removed now."""
    if not payment.completed or payment.refunded_cents <= 0 or payment.amount_cents <= 0:
        return Decimal(0)
    share = min(Decimal(payment.refunded_cents) / Decimal(payment.amount_cents), Decimal(1))
    target = (payment.credits * share).quantize(QUANTUM, rounding=ROUND_DOWN)
    delta = target - payment.refunded_credits
    if delta <= 0:
        return Decimal(0)
    _row, removed = credit_take_back(
        account=payment.account, amount=delta, reference=f"refund of payment {payment.payment_intent}",
        idempotency_key=f"refund:{payment.payment_intent}:{payment.refunded_cents}",
        metadata={"payment_intent": payment.payment_intent, "refunded_cents": payment.refunded_cents},
    )
    payment.refunded_credits = target  # the shortfall (credits already spent) is recorded on the ledger row
    payment.save(update_fields=["refunded_credits", "updated_at"])
    return removed


def _package_paid(obj: dict[str, Any], account: CreditAccount, metadata: dict[str, Any]) -> Outcome:
    package = CreditPackage.objects.filter(slug=str(metadata.get("package_id") or "")).first()
    if package is None:
        return f"ignored: unknown package {metadata.get('package_id')!r}", account
    if obj.get("payment_status") not in ("paid", "no_payment_required"):
        return "waiting: payment not settled yet", account
    payment_intent = _id(obj.get("payment_intent")) or f"cs:{obj.get('id')}"
    payment = _payment_lock(payment_intent=payment_intent, account=account, package=package, amount_cents=int(obj.get("amount_total") or 0))
    if payment.completed:
        return "ignored: payment already credited", account
    if payment.account_id != account.pk:
        return "ignored: payment belongs to another account", account
    payment.completed = True
    payment.checkout_session_id = str(obj.get("id") or "")
    payment.amount_cents = payment.amount_cents or int(obj.get("amount_total") or 0)
    payment.save(update_fields=["completed", "checkout_session_id", "amount_cents", "updated_at"])
    credit_grant(account_or_user=account, amount=payment.credits, type=TransactionType.TOPUP, reference=f"package {package.slug}",
                 idempotency_key=f"topup:{payment_intent}", metadata={"payment_intent": payment_intent, "checkout_session": obj.get("id"),
                                                                     "package_id": package.slug})
    removed = _refund_apply(payment)
    return f"credited {payment.credits} ({package.slug})" + (f", {removed} refunded" if removed else ""), account


def charge_refunded(obj: dict[str, Any], event: dict[str, Any]) -> Outcome:
    """A package payment refunded (fully or partly): take back that share of its credits, once."""
    payment_intent = _id(obj.get("payment_intent"))
    metadata = obj.get("metadata") or {}
    existing = StripePayment.objects.filter(pk=payment_intent).select_related("account").first() if payment_intent else None
    account: CreditAccount | None
    if existing is not None:
        account = existing.account
        package = existing.package
    else:
        package = CreditPackage.objects.filter(slug=str(metadata.get("package_id") or "")).first()
        if not payment_intent or package is None:
            return "ignored: not a credit package payment", None
        account = _account_for(customer=obj.get("customer"), metadata=metadata)
        if account is None:
            return "ignored: unknown customer", None
    payment = _payment_lock(payment_intent=payment_intent, account=account, package=package, amount_cents=int(obj.get("amount") or 0))
    payment.amount_cents = payment.amount_cents or int(obj.get("amount") or 0)
    payment.refunded_cents = max(payment.refunded_cents, int(obj.get("amount_refunded") or 0))
    payment.save(update_fields=["amount_cents", "refunded_cents", "updated_at"])
    removed = _refund_apply(payment)
    if not payment.completed:
        return "recorded: refund before checkout; applied when it completes", account
    return f"refunded {removed} credits", account


# ------------------------------------------------------------------------------
# Subscriptions
# ------------------------------------------------------------------------------
def _subscription_state(*, account: CreditAccount, subscription_id: str, status: str, tier: str, created: int,
                        period_end: int | None) -> str:
    """Move the account's subscription state forward (never back) and the user's tier with it."""
    from apps.accounts.models import Tier
    from apps.accounts.services import user_tier_set

    account = CreditAccount.objects.select_for_update(of=("self",)).select_related("user").get(pk=account.pk)
    live = status in LIVE_SUBSCRIPTION_STATUSES
    same = subscription_id == account.subscription_id
    if created < account.subscription_state_at:
        return "ignored: older than the current subscription state"
    if not same and not live and account.subscription_id:
        return "ignored: not the account's current subscription"
    if same and created == account.subscription_state_at and account.subscription_status == "canceled":
        return "ignored: subscription already ended"
    account.subscription_id = subscription_id
    account.subscription_status = status
    account.subscription_tier = (tier or account.subscription_tier) if live else ""
    account.subscription_state_at = created
    if period_end:
        account.subscription_period_end = datetime.fromtimestamp(period_end, tz=UTC)
    account.save(update_fields=["subscription_id", "subscription_status", "subscription_tier", "subscription_state_at",
                                "subscription_period_end", "updated_at"])
    target = account.subscription_tier if live else "free"
    if account.user is not None and target:
        tier_row = Tier.objects.filter(slug=target).first()
        if tier_row is None:
            return f"subscription {status}; unknown tier {target!r} kept the user's tier"
        if account.user.tier_id != tier_row.slug:
            user_tier_set(user=account.user, tier=tier_row)
    return f"subscription {status}: tier {target}"


def checkout_session_completed(obj: dict[str, Any], event: dict[str, Any]) -> Outcome:
    """A Checkout Session finished: a package top-up, or the start of a subscription."""
    metadata = obj.get("metadata") or {}
    reference = str(obj.get("client_reference_id") or "")
    if reference and metadata.get("user_id") and reference != str(metadata.get("user_id")):
        return "ignored: client_reference_id and metadata disagree", None
    account = _account_for(customer=obj.get("customer"), metadata=metadata or {"user_id": reference})
    if account is None:
        return "ignored: unknown customer", None
    if obj.get("mode") == "subscription":
        tier = _known_tier(metadata.get("tier"))
        subscription_id = _id(obj.get("subscription"))
        if not subscription_id:
            return "ignored: no subscription on the session", account
        return _subscription_state(account=account, subscription_id=subscription_id, status="active", tier=tier,
                                   created=int(event.get("created") or 0), period_end=None), account
    return _package_paid(obj, account, metadata)


def subscription_changed(obj: dict[str, Any], event: dict[str, Any]) -> Outcome:
    """customer.subscription.created|updated|deleted: the state as of the event's `created`."""
    account = _account_for(customer=obj.get("customer"), metadata=obj.get("metadata"))
    if account is None:
        return "ignored: unknown customer", None
    item = _first(obj.get("items"))
    tier = _tier_of_price(item.get("price")) or _known_tier((obj.get("metadata") or {}).get("tier"))
    status = "canceled" if event["type"] == "customer.subscription.deleted" else str(obj.get("status") or "")
    period_end = item.get("current_period_end") or obj.get("current_period_end")
    return _subscription_state(account=account, subscription_id=str(obj.get("id") or ""), status=status, tier=tier,
                               created=int(event.get("created") or 0), period_end=int(period_end) if period_end else None), account


def invoice_paid(obj: dict[str, Any], event: dict[str, Any]) -> Outcome:
    """A subscription invoice paid: the allowance of its period is the tier's monthly credits, once per invoice."""
    details = ((obj.get("parent") or {}).get("subscription_details") or {})
    subscription_id = _id(details.get("subscription") or obj.get("subscription"))
    if not subscription_id:
        return "ignored: not a subscription invoice", None
    metadata = details.get("metadata") or {}
    account = _account_for(customer=obj.get("customer"), metadata=metadata)
    if account is None:
        return "ignored: unknown customer", None
    line = _first(obj.get("lines"))
    pricing = (line.get("pricing") or {}).get("price_details") or {}
    tier = (_tier_of_price(line.get("price")) or _tier_of_price(pricing.get("price")) or _known_tier(metadata.get("tier"))
            or account.subscription_tier)
    if not tier:
        return "ignored: cannot tell the invoice's tier", account
    period = line.get("period") or {}
    start = int(period.get("start") or obj.get("period_start") or obj.get("created") or 0)
    end = period.get("end") or obj.get("period_end")
    row = credit_allowance_set(account=account, monthly_credits=tier_monthly_credits(tier), period=f"sub:{start}",
                               started_at=datetime.fromtimestamp(start, tz=UTC), idempotency_key=f"invoice:{obj.get('id')}",
                               reference=f"subscription {tier} renewal {obj.get('id')}")
    # A paid invoice also proves the subscription is live (its own events may still be on the way).
    state = _subscription_state(account=account, subscription_id=subscription_id, status="active", tier=tier,
                                created=int(event.get("created") or 0), period_end=int(end) if end else None)
    allowance = f"allowance {tier} for period {start}" if row is not None else "older period: allowance unchanged"
    return f"{allowance}; {state}", account


HANDLERS: dict[str, Callable[[dict[str, Any], dict[str, Any]], Outcome]] = {
    "checkout.session.completed": checkout_session_completed,
    "checkout.session.async_payment_succeeded": checkout_session_completed,
    "invoice.paid": invoice_paid,
    "customer.subscription.created": subscription_changed,
    "customer.subscription.updated": subscription_changed,
    "customer.subscription.deleted": subscription_changed,
    "charge.refunded": charge_refunded,
}
