"""Shared-artifact routes (mounted under /api/v1/)."""
from django.urls import path

from . import views

urlpatterns = [
    path("artifacts", views.ArtifactListCreateApi.as_view(), name="artifacts"),
    path("artifacts/<uuid:pk>", views.ArtifactDetailApi.as_view(), name="artifact"),
    path("shared/<str:token>", views.SharedArtifactApi.as_view(), name="shared-artifact"),
]
