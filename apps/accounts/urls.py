"""Dashboard routes of the accounts app (namespace `accounts`)."""
from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("password-reset/", views.password_reset, name="password-reset"),
    path("password-reset/<str:uid>/<str:token>/", views.password_reset_confirm, name="password-reset-confirm"),
    path("account/", views.profile, name="profile"),
    path("account/keys/", views.api_keys, name="keys"),
    path("account/keys/<uuid:key_id>/revoke/", views.api_key_revoke, name="key-revoke"),
    path("workspaces/", views.workspaces, name="workspaces"),
    path("workspaces/<uuid:workspace_id>/", views.workspace_detail, name="workspace"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation"),
]
