"""API routes of the platform tools (mounted under /api/v1/)."""
from django.urls import URLPattern, path

from . import views

urlpatterns: list[URLPattern] = [
    path("tools", views.ToolListApi.as_view(), name="tools-list"),
    path("tools/<str:name>", views.ToolRunApi.as_view(), name="tools-run"),
]
