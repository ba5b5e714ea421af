"""Forge routes (mounted under /api/v1/)."""
from django.urls import path

from . import views

urlpatterns = [
    path("forge/builds", views.BuildListStartApi.as_view(), name="forge-builds"),
    path("forge/builds/from-template", views.BuildFromTemplateApi.as_view(), name="forge-builds-from-template"),
    path("forge/builds/<uuid:pk>", views.BuildDetailApi.as_view(), name="forge-build"),
    path("forge/builds/<uuid:pk>/deploy", views.BuildDeployApi.as_view(), name="forge-build-deploy"),
    path("forge/builds/<uuid:pk>/download", views.BuildDownloadApi.as_view(), name="forge-build-download"),
    path("forge/builds/<uuid:pk>/screenshots/<int:index>", views.BuildScreenshotApi.as_view(), name="forge-build-screenshot"),
    path("forge/builds/<uuid:pk>/mockups/<int:index>", views.BuildMockupApi.as_view(), name="forge-build-mockup"),
    path("forge/templates", views.TemplateListApi.as_view(), name="forge-templates"),
    path("admin/forge/statistics", views.StatisticsApi.as_view(), name="forge-statistics"),
]
