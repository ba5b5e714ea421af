"""Dashboard routes of the accounts app (namespace `accounts`)."""
from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("account/", views.profile, name="profile"),
    path("account/keys/", views.api_keys, name="keys"),
    path("account/keys/<uuid:key_id>/revoke/", views.api_key_revoke, name="key-revoke"),
    path("workspaces/", views.workspaces, name="workspaces"),
    path("workspaces/<uuid:workspace_id>/", views.workspace_detail, name="workspace"),
]
