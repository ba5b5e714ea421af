"""Workflows routes (mounted under /api/v1/)."""
from django.urls import path

from . import views

urlpatterns = [
    path("workflows", views.WorkflowListCreateApi.as_view(), name="workflows"),
    path("workflows/<uuid:pk>", views.WorkflowDetailApi.as_view(), name="workflow"),
    path("workflows/<uuid:pk>/duplicate", views.WorkflowDuplicateApi.as_view(), name="workflow-duplicate"),
    path("workflows/<uuid:pk>/trigger-secret", views.TriggerSecretRotateApi.as_view(), name="workflow-trigger-secret"),
    path("workflows/<uuid:pk>/execute", views.WorkflowExecuteApi.as_view(), name="workflow-execute"),
    path("workflows/<uuid:pk>/runs", views.WorkflowRunsApi.as_view(), name="workflow-runs"),
    path("workflows/<uuid:pk>/schedules", views.ScheduleListCreateApi.as_view(), name="workflow-schedules"),
    path("workflows/<uuid:pk>/schedules/<uuid:schedule_id>", views.ScheduleDetailApi.as_view(), name="workflow-schedule"),
    path("runs/<uuid:run_id>", views.RunDetailApi.as_view(), name="workflow-run"),
    path("runs/<uuid:run_id>/events", views.RunEventsApi.as_view(), name="workflow-run-events"),
    path("runs/<uuid:run_id>/cancel", views.RunCancelApi.as_view(), name="workflow-run-cancel"),
    path("runs/<uuid:run_id>/resume", views.RunResumeApi.as_view(), name="workflow-run-resume"),
    path("hooks/<str:workflow_id>", views.HookApi.as_view(), name="workflow-hook"),
]
