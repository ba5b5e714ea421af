"""API routes of the gateway (mounted under /api/v1/)."""
from django.urls import URLPattern, path

from . import views

urlpatterns: list[URLPattern] = [
    path("openai/chat/completions", views.openai_chat_completions, name="openai-chat-completions"),
    path("openai/models", views.openai_models, name="openai-models"),
]
