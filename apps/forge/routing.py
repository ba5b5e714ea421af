"""Forge WebSocket routes."""
from django.urls import URLPattern, path

from .consumers import BuildProgressConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/forge/<uuid:session_id>", BuildProgressConsumer.as_asgi()),
]
