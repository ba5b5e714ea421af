"""API routes of the accounts app (mounted under /api/v1/)."""
from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
