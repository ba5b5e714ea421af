"""Which API routes the SDK wraps, and the documented list of those it deliberately does not."""
from __future__ import annotations

from .sections import SECTIONS

# (method, path) -> why it is not wrapped.
NOT_WRAPPED: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/openai/chat/completions"): "the OpenAI-compatible gateway: use the `openai` SDK with base_url=<nexus>/api/v1/openai",
    ("GET", "/api/v1/openai/models"): "the OpenAI-compatible gateway: use the `openai` SDK",
    ("POST", "/api/v1/billing/webhook"): "called by Stripe, signed with Stripe-Signature; not a client call",
    ("POST", "/api/v1/voice/webhook/twilio"): "called by Twilio, signed with X-Twilio-Signature; not a client call",
    ("POST", "/api/v1/voice/webhook/daily"): "called by Daily, signed with its webhook HMAC; not a client call",
    ("POST", "/api/v1/cron/reset-credits"): "called by a scheduler with CRON_SECRET; not a client call",
}


def wrapped_routes() -> dict[tuple[str, str], str]:
    """(method, /api/v1 path) -> `section.method` for every route the SDK wraps."""
    routes: dict[tuple[str, str], str] = {}
    for section_name, section in SECTIONS.items():
        for route in section.routes():
            routes[(route.method, "/api/v1" + route.path)] = f"{section_name}.{route.name}"
    return routes
