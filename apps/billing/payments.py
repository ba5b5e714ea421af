"""Payment services: Checkout Sessions, the customer portal, invoices.

Every Stripe id in a request to Stripe comes from the server: the customer is the caller's own
(created here on first use), prices come from the package and tier tables or the configured
price ids, and each session carries `client_reference_id` = the user id and `metadata`
`{user_id, package_id}` or `{user_id, tier}`, which the webhook credits from.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings

from apps.core.errors import ValidationError

from . import stripe_gateway
from .errors import PackageNotFound, PlanNotFound, SubscriptionExists
from .models import CreditAccount, CreditPackage
from .services import credit_account_for

if TYPE_CHECKING:
    from apps.accounts.models import User

CHECKOUT_MODES = ("one-time", "subscription")


def _billing_url(query: str = "", *, base: str | None = None) -> str:
    """The billing page Stripe sends the browser back to: on the host the user came from, else SITE_URL."""
    return f"{(base or settings.SITE_URL).rstrip('/')}/billing/{query}"


def customer_ensure(*, user: User) -> str:
    """The caller's Stripe customer id, created on first use and stored on their credit account."""
    account = credit_account_for(user=user)
    if account.stripe_customer_id:
        return account.stripe_customer_id
    # Stripe's idempotency key makes two concurrent first checkouts get the same customer.
    customer = stripe_gateway.customer_create(email=user.email, user_id=str(user.pk), idempotency_key=f"nexus-customer-{account.pk}")
    CreditAccount.objects.filter(pk=account.pk, stripe_customer_id="").update(stripe_customer_id=customer)
    return CreditAccount.objects.values_list("stripe_customer_id", flat=True).get(pk=account.pk)


def payments_configured() -> bool:
    """Whether this install can take payments (a Stripe secret key is set): the pages say so before any click."""
    return bool(settings.STRIPE_SECRET_KEY)


def tier_price_ids() -> dict[str, str]:
    """Configured Stripe price ids by tier slug (STRIPE_TIER_PRICE_IDS)."""
    return {tier: price for tier, price in settings.STRIPE_TIER_PRICE_IDS.items() if price}


def _package_line(package: CreditPackage) -> dict[str, Any]:
    if package.stripe_price_id:
        return {"price": package.stripe_price_id, "quantity": 1}
    return {"quantity": 1, "price_data": {"currency": package.currency, "unit_amount": package.price_cents,
                                          "product_data": {"name": f"Nexus credits: {package.name} ({package.credits})",
                                                           "metadata": {"package_id": package.slug}}}}


def _tier_line(tier: Any) -> dict[str, Any]:
    configured = tier_price_ids().get(tier.slug)
    if configured:
        return {"price": configured, "quantity": 1}
    return {"quantity": 1, "price_data": {"currency": tier.currency, "unit_amount": tier.price_cents, "recurring": {"interval": "month"},
                                          "product_data": {"name": f"Nexus {tier.name}", "metadata": {"tier": tier.slug}}}}


def _package_checkout(*, user: User, package: CreditPackage, base: str | None) -> str:
    metadata = {"user_id": str(user.pk), "package_id": package.slug}
    # Copied onto the charge, so that a refund maps back to the package even before the session event.
    return _checkout_url(user=user, mode="payment", metadata=metadata, line=_package_line(package), base=base,
                         extra={"payment_intent_data": {"metadata": metadata}})


def _tier_checkout(*, user: User, tier: Any, base: str | None) -> str:
    account = credit_account_for(user=user)
    if account.has_live_subscription:
        raise SubscriptionExists()
    metadata = {"user_id": str(user.pk), "tier": tier.slug}
    return _checkout_url(user=user, mode="subscription", metadata=metadata, line=_tier_line(tier), base=base,
                         extra={"subscription_data": {"metadata": metadata}})


def _checkout_url(*, user: User, mode: str, metadata: dict[str, str], line: dict[str, Any], base: str | None,
                  extra: dict[str, Any]) -> str:
    """A Checkout Session for the caller; customer, reference and metadata come from the server only."""
    session = stripe_gateway.checkout_session_create({
        "mode": mode,
        "customer": customer_ensure(user=user),
        "client_reference_id": str(user.pk),
        "metadata": metadata,
        **extra,
        "line_items": [line],
        "success_url": _billing_url("?checkout=success&session_id={CHECKOUT_SESSION_ID}", base=base),
        "cancel_url": _billing_url("?checkout=cancelled", base=base),
    })
    return session["url"]


def checkout_create(*, user: User, package_id: str | None = None, price_id: str | None = None, mode: str | None = None,
                    return_base: str | None = None) -> str:
    """A Checkout Session URL for a credit package (one-time) or a paid tier (subscription).

    `package_id` is a package slug. `price_id` is a paid tier's slug (`pro`) or a Stripe price id
    the server knows (a tier's configured price, or a package's); anything else is 404.
    """
    from apps.accounts.models import Tier

    if package_id is not None:
        package = CreditPackage.objects.filter(slug=package_id, active=True).first()
        if package is None:
            raise PackageNotFound()
        return _package_checkout(user=user, package=package, base=return_base)
    if not price_id:
        raise ValidationError("Give `package_id`, or `price_id` and `mode`.", details={"package_id": ["Required without price_id."]})
    mode = mode or "subscription"
    if mode not in CHECKOUT_MODES:
        raise ValidationError("`mode` is subscription or one-time.", details={"mode": [f"Must be one of {', '.join(CHECKOUT_MODES)}."]})
    tier_slug = price_id if Tier.objects.filter(slug=price_id).exists() else {v: k for k, v in tier_price_ids().items()}.get(price_id)
    package = CreditPackage.objects.filter(stripe_price_id=price_id, active=True).exclude(stripe_price_id="").first()
    if mode == "subscription" and tier_slug:
        tier = Tier.objects.get(slug=tier_slug)
        if tier.price_cents <= 0 and tier_slug not in tier_price_ids():
            raise ValidationError("This tier is free; there is nothing to subscribe to.", details={"price_id": ["Not a paid tier."]})
        return _tier_checkout(user=user, tier=tier, base=return_base)
    if mode == "one-time" and package is not None:
        return _package_checkout(user=user, package=package, base=return_base)
    if tier_slug or package is not None:
        raise ValidationError(f"This price cannot be bought with mode `{mode}`.", details={"mode": ["Does not match the price."]})
    raise PlanNotFound()


def portal_create(*, user: User, return_base: str | None = None) -> str:
    """A Billing Portal URL for the caller's own customer (created if they have none yet)."""
    return stripe_gateway.portal_session_create(customer=customer_ensure(user=user), return_url=_billing_url(base=return_base))


def invoices_for(*, user: User, limit: int = 100) -> list[dict[str, Any]]:
    """The caller's invoices from Stripe, newest first (none before their first checkout)."""
    account = credit_account_for(user=user)
    if not account.stripe_customer_id:
        return []
    rows = []
    for invoice in stripe_gateway.invoice_list(customer=account.stripe_customer_id, limit=limit):
        created = invoice.get("created")
        rows.append({
            "id": invoice.get("id"),
            "number": invoice.get("number"),
            "amount": invoice.get("amount_paid") if invoice.get("status") == "paid" else invoice.get("amount_due"),
            "currency": invoice.get("currency"),
            "status": invoice.get("status"),
            "date": datetime.fromtimestamp(created, tz=UTC).isoformat().replace("+00:00", "Z") if created else None,
            "invoice_url": invoice.get("hosted_invoice_url"),
            "invoice_pdf": invoice.get("invoice_pdf"),
            "description": invoice.get("description"),
        })
    return rows
