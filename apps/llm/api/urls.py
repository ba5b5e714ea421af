"""API routes of the llm app (mounted under /api/v1/)."""
from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(trailing_slash=False)
router.register("admin/providers", views.ProviderViewSet, basename="admin-providers")
router.register("admin/models", views.ModelAdminViewSet, basename="admin-models")

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/providers/<uuid:provider_id>/test", views.ProviderTestApi.as_view(), name="admin-provider-test"),
    path("models", views.ModelListApi.as_view(), name="models"),
    path("metrics", views.MetricsApi.as_view(), name="metrics"),
    *router.urls,
]
