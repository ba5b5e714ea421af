"""The one module that imports the Stripe SDK: a configured client, calls, and error mapping.

Tests point `STRIPE_API_BASE` at a loopback fake that speaks Stripe's wire format, so the real
SDK code paths run; production leaves it empty (Stripe's own API).
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import stripe
from django.conf import settings

from .errors import BillingNotConfigured, InvalidWebhookSignature, StripeUnavailable

logger = logging.getLogger("nexus.billing")

T = TypeVar("T")
_clients: dict[tuple[str, str], stripe.StripeClient] = {}


def stripe_client() -> stripe.StripeClient:
    """A StripeClient for the configured key and base URL (one per process and configuration)."""
    key = settings.STRIPE_SECRET_KEY
    if not key:
        raise BillingNotConfigured()
    base = settings.STRIPE_API_BASE or ""
    client = _clients.get((key, base))
    if client is None:
        options: dict[str, Any] = {"max_network_retries": settings.STRIPE_MAX_NETWORK_RETRIES}
        if base:
            options["base_addresses"] = {"api": base}
        client = stripe.StripeClient(key, **options)
        _clients[(key, base)] = client
    return client


def _call(what: str, function: Callable[[], T]) -> T:
    """Run an SDK call; every Stripe failure becomes one 503 (the detail goes to the log, not the client)."""
    try:
        return function()
    except stripe.StripeError as exc:
        logger.warning("Stripe %s failed: %s", what, exc)
        raise StripeUnavailable() from exc


def customer_create(*, email: str, user_id: str, idempotency_key: str) -> str:
    """Create a Stripe customer for a user; returns its id (the idempotency key makes retries return the same one)."""
    customer = _call("customer create", lambda: stripe_client().v1.customers.create(
        {"email": email, "metadata": {"user_id": user_id}}, {"idempotency_key": idempotency_key},
    ))
    return str(customer.id)


def checkout_session_create(params: dict[str, Any]) -> dict[str, str]:
    """Create a Checkout Session; returns its id and the URL to send the browser to."""
    session = _call("checkout session create", lambda: stripe_client().v1.checkout.sessions.create(params))  # type: ignore[arg-type]  # a plain dict built in payments.py; the SDK declares a TypedDict
    return {"id": str(session.id), "url": str(session.url)}


def portal_session_create(*, customer: str, return_url: str) -> str:
    """Create a Billing Portal session; returns its URL."""
    session = _call("portal session create", lambda: stripe_client().v1.billing_portal.sessions.create(
        {"customer": customer, "return_url": return_url},
    ))
    return str(session.url)


def invoice_list(*, customer: str, limit: int) -> list[dict[str, Any]]:
    """The customer's newest invoices as plain dicts."""
    page = _call("invoice list", lambda: stripe_client().v1.invoices.list({"customer": customer, "limit": limit}))
    return [invoice.to_dict() for invoice in page.data]


def webhook_event_verify(*, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event of a webhook body whose `Stripe-Signature` is valid and recent, else 400.

    The SDK checks the HMAC and rejects timestamps older than the tolerance; a timestamp further
    in the future than the tolerance is refused too, so a leaked signed body cannot be kept for later.
    """
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise BillingNotConfigured("The Stripe webhook secret is not configured.")
    tolerance = settings.STRIPE_WEBHOOK_TOLERANCE
    if not signature:
        raise InvalidWebhookSignature("Missing Stripe-Signature header.")
    try:
        text = payload.decode("utf-8")
        stripe.WebhookSignature.verify_header(text, signature, secret, tolerance)
        stamp = int(dict(part.split("=", 1) for part in signature.split(",") if "=" in part)["t"])
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError, KeyError) as exc:
        raise InvalidWebhookSignature(f"Invalid Stripe signature: {exc}"[:300]) from None
    if stamp > time.time() + tolerance:
        raise InvalidWebhookSignature("Invalid Stripe signature: timestamp is in the future.")
    try:
        event = json.loads(text)
    except ValueError:
        raise InvalidWebhookSignature("The webhook body is not JSON.") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise InvalidWebhookSignature("The webhook body is not a Stripe event.")
    return event
