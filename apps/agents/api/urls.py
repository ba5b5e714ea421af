"""Agents routes (mounted under /api/v1/)."""
from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(trailing_slash=False)
router.register("agents", views.AgentViewSet, basename="agents-agent")

urlpatterns = [
    path("a2a", views.A2AGatewayApi.as_view(), name="agents-a2a"),
    path("discover", views.DiscoverApi.as_view(), name="agents-discover"),
    path("agents/<uuid:pk>/heartbeat", views.AgentHeartbeatApi.as_view(), name="agents-heartbeat"),
    path("agents/<uuid:pk>/api-keys", views.AgentKeyListApi.as_view(), name="agents-keys"),
    path("agents/<uuid:pk>/api-keys/<uuid:key_id>", views.AgentKeyDeleteApi.as_view(), name="agents-key"),
    path("tasks", views.TaskListApi.as_view(), name="agents-tasks"),
    path("tasks/<uuid:pk>", views.TaskDetailApi.as_view(), name="agents-task"),
    path("tasks/<uuid:pk>/cancel", views.TaskCancelApi.as_view(), name="agents-task-cancel"),
    path("tasks/<uuid:pk>/reply", views.TaskReplyApi.as_view(), name="agents-task-reply"),
    path("tasks/<uuid:pk>/stream", views.TaskStreamApi.as_view(), name="agents-task-stream"),
    path("trust/<uuid:agent_id>", views.TrustApi.as_view(), name="agents-trust"),
    path("trust/<uuid:agent_id>/history", views.TrustHistoryApi.as_view(), name="agents-trust-history"),
    path("trust/<uuid:agent_id>/rate", views.TrustRateApi.as_view(), name="agents-trust-rate"),
    *router.urls,
]
