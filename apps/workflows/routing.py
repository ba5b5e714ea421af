"""Workflows WebSocket routes."""
from django.urls import URLPattern, path

from .consumers import WorkflowRoomConsumer

websocket_urlpatterns: list[URLPattern] = [
    path("ws/workflows/<str:workflow_id>", WorkflowRoomConsumer.as_asgi()),
]
