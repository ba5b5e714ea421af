"""Integrations routes (mounted under /api/v1/)."""
from django.urls import path

from . import views

urlpatterns = [
    path("connections", views.ConnectionListCreateApi.as_view(), name="connections"),
    path("connections/<uuid:pk>", views.ConnectionDetailApi.as_view(), name="connection"),
]
