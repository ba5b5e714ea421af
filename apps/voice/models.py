"""Voice data: each user's voice settings, voice sessions (a conversation spoken turn by turn), telephony webhook events."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models


class VoiceConfig(models.Model):
    """One user's voice settings; an empty model id means "the first usable model with the capability"."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="voice_config")
    stt_model_id = models.UUIDField(null=True, blank=True)
    tts_model_id = models.UUIDField(null=True, blank=True)
    chat_model_id = models.UUIDField(null=True, blank=True)
    voice = models.CharField(max_length=40, default="alloy")
    language = models.CharField(max_length=16, blank=True, default="")
    system_prompt = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"voice settings of {self.user_id}"


class VoiceSessionStatus(models.TextChoices):
    """A session takes turns until it is ended or idle too long."""

    ACTIVE = "active", "Active"
    ENDED = "ended", "Ended"
    EXPIRED = "expired", "Expired (idle)"


class VoiceSession(models.Model):
    """A spoken conversation: its chat conversation, the settings it runs with, and when it was last used."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="voice_sessions")
    conversation = models.ForeignKey("chat.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="voice_sessions")
    # The effective settings at creation (the user's settings with the request's `config` on top).
    config = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=VoiceSessionStatus.choices, default=VoiceSessionStatus.ACTIVE)
    turns = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_active_at = models.DateTimeField(auto_now_add=True, db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"voice session {self.pk} ({self.status})"

    @property
    def expires_at(self) -> datetime:
        """When the session ends if it stays idle."""
        return self.last_active_at + timedelta(seconds=settings.VOICE_SESSION_IDLE_SECONDS)


class WebhookProvider(models.TextChoices):
    """Telephony and room providers that call us."""

    TWILIO = "twilio", "Twilio"
    DAILY = "daily", "Daily"


class VoiceWebhookEvent(models.Model):
    """One verified webhook call (Twilio voice request, Daily room or recording event)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.CharField(max_length=16, choices=WebhookProvider.choices)
    event_type = models.CharField(max_length=100, blank=True, default="")
    external_id = models.CharField(max_length=200, blank=True, default="", help_text="CallSid, or the Daily event id.")
    session = models.ForeignKey(VoiceSession, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_events")
    payload = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type}"
