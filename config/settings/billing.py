"""Billing: Stripe keys and webhooks, the cron secret, credit reservations."""
from __future__ import annotations

from .environment import env

__all__ = [
    "BILLING_RESERVATION_TTL_SECONDS",
    "CRON_SECRET",
    "STRIPE_API_BASE",
    "STRIPE_MAX_NETWORK_RETRIES",
    "STRIPE_SECRET_KEY",
    "STRIPE_TIER_PRICE_IDS",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_WEBHOOK_TOLERANCE",
]

# Stripe: the secret API key, the webhook endpoint's signing secret, and (tests only) another API base URL.
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="")
STRIPE_WEBHOOK_TOLERANCE = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)
STRIPE_MAX_NETWORK_RETRIES = env.int("STRIPE_MAX_NETWORK_RETRIES", default=2)
# Optional Stripe price ids per tier ("pro=price_...,enterprise=price_..."); without one, Checkout sends the
# tier's price inline. Needed for plan switches in the Stripe portal (webhooks map these ids back to tiers).
STRIPE_TIER_PRICE_IDS = env.dict("STRIPE_TIER_PRICE_IDS", default={})
# Bearer token of POST /api/v1/cron/reset-credits; empty keeps the route closed (401).
CRON_SECRET = env("CRON_SECRET", default="")
# A credit hold not settled within this many seconds (its process died) is released.
BILLING_RESERVATION_TTL_SECONDS = env.int("BILLING_RESERVATION_TTL_SECONDS", default=3600)
