"""Voice routes (mounted under /api/v1/)."""
from django.urls import path

from . import views

urlpatterns = [
    path("voice/config", views.VoiceConfigApi.as_view(), name="voice-config"),
    path("voice/sessions", views.VoiceSessionCreateApi.as_view(), name="voice-sessions"),
    path("voice/sessions/<uuid:pk>", views.VoiceSessionDetailApi.as_view(), name="voice-session"),
    path("voice/transcriptions", views.VoiceTranscriptionApi.as_view(), name="voice-transcriptions"),
    path("voice/speech", views.VoiceSpeechApi.as_view(), name="voice-speech"),
    path("voice/webhook/twilio", views.TwilioWebhookApi.as_view(), name="voice-webhook-twilio"),
    path("voice/webhook/daily", views.DailyWebhookApi.as_view(), name="voice-webhook-daily"),
]
