"""API routes of the knowledge app (mounted under /api/v1/)."""
from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(trailing_slash=False)
router.register("knowledge", views.RepositoryViewSet, basename="knowledge-repositories")
router.register("documents", views.DocumentViewSet, basename="knowledge-documents")

urlpatterns: list[URLPattern | URLResolver] = [
    path("knowledge/search", views.KnowledgeSearchApi.as_view(), name="knowledge-search"),
    path("knowledge/<uuid:repository_id>/documents", views.RepositoryDocumentsApi.as_view(), name="knowledge-documents"),
    path("documents/upload-url", views.DocumentUploadUrlApi.as_view(), name="documents-upload-url"),
    path("documents/confirm", views.DocumentConfirmApi.as_view(), name="documents-confirm"),
    path("documents/<uuid:document_id>/download", views.DocumentDownloadApi.as_view(), name="documents-download"),
    path("documents/<uuid:document_id>/reprocess", views.DocumentReprocessApi.as_view(), name="documents-reprocess"),
    *router.urls,
]
