"""Dashboard routes of Assistant Architect."""
from django.urls import path

from . import views

app_name = "architect"

urlpatterns = [
    path("architect/", views.tools_page, name="tools"),
    path("architect/tools/new/", views.builder_page, name="new"),
    path("architect/tools/<uuid:tool_id>/edit/", views.builder_page, name="edit"),
    path("architect/tools/<uuid:tool_id>/run/", views.run_form_page, name="run-form"),
    path("architect/executions/<uuid:execution_id>/", views.run_page, name="run"),
]
