"""Voice: audio limits, idle sessions, and the telephony webhooks' secrets (empty: that webhook answers 403)."""
from __future__ import annotations

from .environment import env

__all__ = [
    "DAILY_WEBHOOK_SECRET", "TWILIO_AUTH_TOKEN", "VOICE_MAX_AUDIO_BYTES", "VOICE_MAX_SPEECH_CHARS", "VOICE_SESSION_IDLE_SECONDS",
]

# API.md: transcriptions take at most 25 MB, speech at most 4 096 characters; a session ends after 30 minutes idle.
VOICE_MAX_AUDIO_BYTES = env.int("VOICE_MAX_AUDIO_BYTES", default=25 * 1024 * 1024)
VOICE_MAX_SPEECH_CHARS = 4096
VOICE_SESSION_IDLE_SECONDS = env.int("VOICE_SESSION_IDLE_SECONDS", default=30 * 60)
# Twilio signs its webhooks with the account's auth token; Daily with the webhook's HMAC secret (base64).
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", default="")
DAILY_WEBHOOK_SECRET = env("DAILY_WEBHOOK_SECRET", default="")
