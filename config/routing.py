"""WebSocket routes of every app, combined: each installed app's `routing.websocket_urlpatterns`, if it has one."""
from importlib import import_module
from importlib.util import find_spec

from django.conf import settings
from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
for _app in settings.LOCAL_APPS:
    if find_spec(f"{_app}.routing") is not None:
        websocket_urlpatterns += import_module(f"{_app}.routing").websocket_urlpatterns
