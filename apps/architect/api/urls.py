"""Assistant Architect routes (mounted under /api/v1/)."""
from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(trailing_slash=False)
router.register("architect/tools", views.ToolViewSet, basename="architect-tool")
router.register("architect/executions", views.ExecutionViewSet, basename="architect-execution")

urlpatterns = [
    path("architect/execute", views.ExecutionStartApi.as_view(), name="architect-execute"),
    path("architect/tools/<uuid:pk>/duplicate", views.ToolDuplicateApi.as_view(), name="architect-tool-duplicate"),
    path("architect/executions/<uuid:pk>/events", views.ExecutionEventsApi.as_view(), name="architect-execution-events"),
    path("architect/executions/<uuid:pk>/cancel", views.ExecutionCancelApi.as_view(), name="architect-execution-cancel"),
    *router.urls,
]
