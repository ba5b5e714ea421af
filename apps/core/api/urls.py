"""Core API routes."""
from django.urls import path

from .views import HealthApi

urlpatterns = [
    path("health", HealthApi.as_view(), name="api-health"),
]
