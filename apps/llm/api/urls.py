"""API routes of the llm app (mounted under /api/v1/)."""
from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
