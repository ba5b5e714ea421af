"""WebSocket routes of every app, combined; apps append their own `routing.websocket_urlpatterns`."""
from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
