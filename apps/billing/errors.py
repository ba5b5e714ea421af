"""Domain errors of the billing app; the one exception handler renders each as the envelope."""
from __future__ import annotations

from apps.core.errors import (
    ApplicationError,
    Conflict,
    InsufficientCredits,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)

__all__ = [
    "InsufficientCredits",
    "PackageNotFound",
    "PlanNotFound",
    "SubscriptionExists",
    "BillingNotConfigured",
    "StripeUnavailable",
    "InvalidWebhookSignature",
    "InvalidCronSecret",
]


class PackageNotFound(NotFound):
    """No active credit package has this id."""

    default_message = "No credit package with this id."


class PlanNotFound(NotFound):
    """No tier or price the server knows matches this id."""

    default_message = "No plan with this price id."


class SubscriptionExists(Conflict):
    """The caller already has a live subscription; plan changes go through the portal."""

    default_message = "You already have an active subscription; change it in the billing portal."


class BillingNotConfigured(ServiceUnavailable):
    """Stripe keys are not set on this install."""

    default_message = "Payments are not configured on this server."


class StripeUnavailable(ServiceUnavailable):
    """Stripe could not be reached or refused the request."""

    default_message = "The payment provider is unavailable right now."


class InvalidWebhookSignature(ApplicationError):
    """The Stripe-Signature header is missing, wrong or outside the tolerance."""

    status_code = 400
    code = "VALIDATION_ERROR"
    default_message = "Invalid Stripe signature."


class InvalidCronSecret(Unauthorized):
    """The cron bearer token is missing or wrong."""

    default_message = "A valid cron secret is required."
