"""Voice API shapes."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from apps.core.serializers import Serializer, StrictCharField, StrictChoiceField

from ..models import VoiceSession, VoiceSessionStatus


class VoiceConfigSerializer(Serializer):
    """`{stt_model_id, tts_model_id, chat_model_id, voice, language, system_prompt}`; a null model id: the default model."""

    stt_model_id = serializers.UUIDField(allow_null=True, required=False)
    tts_model_id = serializers.UUIDField(allow_null=True, required=False)
    chat_model_id = serializers.UUIDField(allow_null=True, required=False)
    voice = StrictCharField(max_length=40, required=False)
    language = StrictCharField(max_length=16, required=False, allow_blank=True)
    system_prompt = StrictCharField(max_length=20_000, required=False, allow_blank=True)


class VoiceSessionCreateSerializer(Serializer):
    """`{conversation_id?, config?}`."""

    conversation_id = serializers.UUIDField(required=False, allow_null=True)
    config = VoiceConfigSerializer(required=False, allow_null=True)


class VoiceSessionSerializer(serializers.ModelSerializer):
    """A session: `{id, websocket_url, expires_at, status, conversation_id, config, turns, created_at, ended_at}`."""

    websocket_url = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField(read_only=True)
    conversation_id = serializers.UUIDField(read_only=True, allow_null=True)
    status = serializers.ChoiceField(choices=VoiceSessionStatus.choices, read_only=True)
    config = VoiceConfigSerializer(read_only=True)

    class Meta:
        model = VoiceSession
        fields = ["id", "websocket_url", "expires_at", "status", "conversation_id", "config", "turns", "created_at", "ended_at"]
        read_only_fields = fields

    def get_websocket_url(self, session: VoiceSession) -> str:
        """Absolute when the request is known (ws:// or wss:// like the page), else the path."""
        path = f"/ws/voice/{session.pk}"
        request = self.context.get("request")
        if request is None:
            return path
        return request.build_absolute_uri(path).replace("http://", "ws://", 1).replace("https://", "wss://", 1)

    def to_representation(self, session: VoiceSession) -> dict[str, Any]:
        data = super().to_representation(session)
        if session.status == VoiceSessionStatus.ACTIVE and session.expires_at <= _now():
            data["status"] = VoiceSessionStatus.EXPIRED  # the reaper has not got to it yet
        return data


def _now() -> Any:
    from django.utils import timezone

    return timezone.now()


class TranscriptionSerializer(Serializer):
    """`{text, language, duration_seconds}`."""

    text = StrictCharField()
    language = StrictCharField(allow_blank=True)
    duration_seconds = serializers.FloatField()


class SpeechRequestSerializer(Serializer):
    """`{text, voice?, format?: mp3|wav|opus, model_id?}`."""

    text = StrictCharField(max_length=settings.VOICE_MAX_SPEECH_CHARS)
    voice = StrictCharField(max_length=40, required=False)
    format = StrictChoiceField(choices=["mp3", "wav", "opus"], required=False, default="mp3")
    model_id = serializers.UUIDField(required=False, allow_null=True)
