"""Shared-artifact pages: the public link, its sandboxed raw content, the owner's list."""
from django.urls import path

from . import views

app_name = "sharing"

urlpatterns = [
    path("s/<str:token>", views.shared_page, name="shared"),
    path("s/<str:token>/raw", views.shared_raw, name="shared-raw"),
    path("shared/", views.list_page, name="list"),
    path("shared/<uuid:artifact_id>/revoke", views.revoke, name="revoke"),
]
