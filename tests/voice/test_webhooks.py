"""Telephony webhooks: Twilio signatures made and checked by the official `twilio` package; Daily's HMAC."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient
from twilio.request_validator import RequestValidator

from apps.chat.models import Message
from apps.voice.models import VoiceSession, VoiceWebhookEvent
from tests.chat.conftest import Caller
from tests.llm.conftest import FakeModels

from .conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)

TWILIO_TOKEN = "twilio-test-auth-token-5d1e"
DAILY_SECRET = base64.b64encode(b"daily-test-secret-9a7b").decode()
TWILIO_PATH = "/api/v1/voice/webhook/twilio"


def _twilio_post(client: APIClient, params: dict[str, str], *, query: str = "", signature: str | None = "sign") -> Any:
    url = f"http://testserver{TWILIO_PATH}{query}"
    headers = {}
    if signature == "sign":
        headers["HTTP_X_TWILIO_SIGNATURE"] = RequestValidator(TWILIO_TOKEN).compute_signature(url, params)
    elif signature is not None:
        headers["HTTP_X_TWILIO_SIGNATURE"] = signature
    return client.post(f"{TWILIO_PATH}{query}", urlencode(params), content_type="application/x-www-form-urlencoded", **headers)


def test_twilio_good_signature_gathers_speech_then_says_the_reply(caller: Caller, voice_models: FakeModels, fake_llm: Any,
                                                                   settings: Any) -> None:
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    chat = str(voice_models.models["openai"].pk)
    session = client_for(caller).post("/api/v1/voice/sessions", {"config": {"chat_model_id": chat}}, format="json").json()
    client = APIClient()
    query = f"?session_id={session['id']}"
    answered = _twilio_post(client, {"CallSid": "CA123", "CallStatus": "ringing", "From": "+15550001111"}, query=query)
    assert answered.status_code == 200, answered.content
    assert answered["Content-Type"].startswith("application/xml")
    twiml = answered.content.decode()
    assert "<Gather" in twiml and 'input="speech"' in twiml and f"session_id={session['id']}" in twiml
    fake_llm.script("opening hours", "We open at nine. We close at five.")
    spoken = _twilio_post(client, {"CallSid": "CA123", "SpeechResult": "What are your opening hours?"}, query=query)
    assert spoken.status_code == 200
    assert "<Say>We open at nine. We close at five.</Say>" in spoken.content.decode()
    messages = list(Message.objects.filter(conversation_id=session["conversation_id"]).order_by("created_at"))
    assert [(m.role, m.content) for m in messages] == [("user", "What are your opening hours?"),
                                                       ("assistant", "We open at nine. We close at five.")]
    events = list(VoiceWebhookEvent.objects.order_by("received_at").values_list("provider", "event_type", "external_id"))
    assert events == [("twilio", "ringing", "CA123"), ("twilio", "speech", "CA123")]
    assert VoiceSession.objects.get(pk=session["id"]).turns == 1


def test_twilio_wrong_missing_or_unconfigured_signature_is_403_and_records_nothing(voice_models: FakeModels, settings: Any) -> None:
    client = APIClient()
    params = {"CallSid": "CA999", "SpeechResult": "hello"}
    settings.TWILIO_AUTH_TOKEN = ""
    assert _twilio_post(client, params).status_code == 403  # not configured: nothing verifies
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    wrong = _twilio_post(client, params, signature=RequestValidator("another-token").compute_signature(
        f"http://testserver{TWILIO_PATH}", params))
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "FORBIDDEN"
    assert _twilio_post(client, params, signature=None).status_code == 403
    # Signed for other fields than those sent (a replayed signature with a changed body).
    signed = RequestValidator(TWILIO_TOKEN).compute_signature(f"http://testserver{TWILIO_PATH}", {"CallSid": "CA999"})
    assert _twilio_post(client, params, signature=signed).status_code == 403
    assert not VoiceWebhookEvent.objects.exists()
    unlinked = _twilio_post(client, {"CallSid": "CA1"})
    assert unlinked.status_code == 200 and "<Hangup" in unlinked.content.decode()


def _daily_post(client: APIClient, body: bytes, *, secret: str | None = DAILY_SECRET, timestamp: str = "1733300000",
                signed_body: bytes | None = None) -> Any:
    headers = {"HTTP_X_WEBHOOK_TIMESTAMP": timestamp}
    if secret is not None:
        signed = body if signed_body is None else signed_body
        digest = hmac.new(base64.b64decode(secret), timestamp.encode() + b"." + signed, hashlib.sha256).digest()
        headers["HTTP_X_WEBHOOK_SIGNATURE"] = base64.b64encode(digest).decode()
    return client.post("/api/v1/voice/webhook/daily", body, content_type="application/json", **headers)


def test_daily_signed_events_are_recorded_and_bad_signatures_refused(voice_models: FakeModels, settings: Any) -> None:
    client = APIClient()
    settings.DAILY_WEBHOOK_SECRET = DAILY_SECRET
    event = {"version": "1.0.0", "type": "recording.ready-to-download", "id": "evt-1", "event_ts": 1733300000.5,
             "payload": {"room_name": "support", "recording_id": "rec-1"}}
    body = json.dumps(event).encode()
    good = _daily_post(client, body)
    assert good.status_code == 200 and good.json() == {"received": True}
    recorded = VoiceWebhookEvent.objects.get()
    assert (recorded.provider, recorded.event_type, recorded.external_id) == ("daily", "recording.ready-to-download", "evt-1")
    assert recorded.payload["payload"]["recording_id"] == "rec-1"

    wrong = _daily_post(client, body, secret=base64.b64encode(b"not-the-secret").decode())
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "FORBIDDEN"
    assert _daily_post(client, body, secret=None).status_code == 403
    tampered = _daily_post(client, body.replace(b"rec-1", b"rec-2"), signed_body=body)
    assert tampered.status_code == 403
    settings.DAILY_WEBHOOK_SECRET = ""
    assert _daily_post(client, body).status_code == 403  # not configured
    assert VoiceWebhookEvent.objects.count() == 1


def test_twilio_says_a_refusal_instead_of_failing_the_call(caller: Caller, voice_models: FakeModels, fake_llm: Any,
                                                           settings: Any) -> None:
    settings.TWILIO_AUTH_TOKEN = TWILIO_TOKEN
    session = client_for(caller).post("/api/v1/voice/sessions", {"config": {"chat_model_id": str(voice_models.models["openai"].pk)}},
                                      format="json").json()
    answer = _twilio_post(APIClient(), {"CallSid": "CA7", "SpeechResult": "Hello #fail=503"}, query=f"?session_id={session['id']}")
    assert answer.status_code == 200
    twiml = answer.content.decode()
    assert "<Say>Sorry, I could not answer that.</Say>" in twiml and "<Gather" in twiml  # the provider failed: said, not a 5xx
    from apps.billing.selectors import balance_for
    from apps.billing.services import credit_charge

    # No credits left: the next turn is refused (402) before any provider call.
    credit_charge(account_or_user=caller.user, amount=balance_for(user=caller.user)["available"], reference="test")
    refused = _twilio_post(APIClient(), {"CallSid": "CA7", "SpeechResult": "Hello again"}, query=f"?session_id={session['id']}")
    assert refused.status_code == 200 and "<Say>Sorry, I cannot answer right now." in refused.content.decode()
