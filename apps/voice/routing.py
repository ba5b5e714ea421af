"""Voice WebSocket routes."""
from django.urls import URLPattern, path

from .consumers import VoiceConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/voice/<str:session_id>", VoiceConsumer.as_asgi()),
]
