"""Workflows pages."""
from django.urls import path

from . import views

app_name = "workflows"

urlpatterns = [
    path("workflows/", views.home_page, name="home"),
    path("workflows/<uuid:workflow_id>/", views.editor_page, name="editor"),
]
