"""Dashboard routes of the knowledge app (namespace `knowledge`)."""
from django.urls import path

from . import views

app_name = "knowledge"

urlpatterns = [
    path("knowledge/", views.repositories, name="repositories"),
    path("knowledge/debugger/", views.debugger, name="debugger"),
    path("knowledge/<uuid:repository_id>/", views.repository_detail, name="repository"),
    path("knowledge/<uuid:repository_id>/delete/", views.repository_delete, name="repository-delete"),
    path("knowledge/documents/<uuid:document_id>/<str:action>/", views.document_action, name="document-action"),
]
