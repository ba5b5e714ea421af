"""Telephony webhooks: Twilio's signature checked with the official `twilio` package, TwiML built with it; Daily's HMAC.

Twilio signs the full URL it called plus the POSTed form fields with the account's auth token
(`X-Twilio-Signature`); Daily signs `"{X-Webhook-Timestamp}.{raw body}"` with HMAC-SHA256 under the
webhook's base64 secret (`X-Webhook-Signature`, base64). An unset secret never verifies: the
webhook answers 403 until an operator configures it.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Gather, VoiceResponse

from apps.core.errors import Forbidden


class WebhookSignatureInvalid(Forbidden):
    """The webhook's signature is missing or wrong (or the webhook is not configured)."""

    default_message = "The webhook signature is missing or invalid."


def twilio_verify(*, url: str, params: Mapping[str, Any], signature: str | None) -> None:
    """403 unless `signature` is Twilio's signature of `url` and `params` under TWILIO_AUTH_TOKEN."""
    token = settings.TWILIO_AUTH_TOKEN
    if not token or not signature or not RequestValidator(token).validate(url, params, signature):
        raise WebhookSignatureInvalid()


def daily_verify(*, body: bytes, timestamp: str | None, signature: str | None) -> None:
    """403 unless `signature` is base64(HMAC-SHA256(base64-decoded DAILY_WEBHOOK_SECRET, "{timestamp}.{body}"))."""
    secret = settings.DAILY_WEBHOOK_SECRET
    if not secret or not signature or not timestamp:
        raise WebhookSignatureInvalid()
    try:
        key = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        key = secret.encode()  # a secret configured in plain text
    expected = base64.b64encode(hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(expected, signature.strip()):
        raise WebhookSignatureInvalid()


def twiml_gather(*, action: str, say: str = "", language: str = "") -> str:
    """TwiML that says `say` (if any), then listens for speech and posts it to `action`."""
    response = VoiceResponse()
    if say:
        response.say(say)
    gather = Gather(input="speech", action=action, method="POST", speech_timeout="auto", **({"language": language} if language else {}))
    response.append(gather)
    return str(response)


def twiml_say_and_hang_up(text: str) -> str:
    """TwiML that says `text` and ends the call."""
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return str(response)
