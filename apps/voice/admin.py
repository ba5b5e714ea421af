"""Voice in the Django admin: sessions and webhook events (read only), settings."""
from __future__ import annotations

from django.contrib import admin

from .models import VoiceConfig, VoiceSession, VoiceWebhookEvent


@admin.register(VoiceConfig)
class VoiceConfigAdmin(admin.ModelAdmin):
    """Each user's voice settings."""

    list_display = ["user", "voice", "language", "updated_at"]
    search_fields = ["user__email"]


@admin.register(VoiceSession)
class VoiceSessionAdmin(admin.ModelAdmin):
    """Voice sessions."""

    list_display = ["id", "user", "status", "turns", "created_at", "last_active_at", "ended_at"]
    list_filter = ["status"]
    search_fields = ["user__email"]
    readonly_fields = ["user", "conversation", "config", "turns", "created_at", "last_active_at", "ended_at"]


@admin.register(VoiceWebhookEvent)
class VoiceWebhookEventAdmin(admin.ModelAdmin):
    """Verified telephony webhook calls."""

    list_display = ["received_at", "provider", "event_type", "external_id", "session"]
    list_filter = ["provider"]
    readonly_fields = ["provider", "event_type", "external_id", "session", "payload", "received_at"]
