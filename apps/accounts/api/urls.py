"""API routes of the accounts app (mounted under /api/v1/)."""
from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(trailing_slash=False)
router.register("keys", views.ApiKeyViewSet, basename="api-keys")
router.register("workspaces", views.WorkspaceViewSet, basename="workspaces")

UUID = "<uuid:{}>"

urlpatterns: list[URLPattern | URLResolver] = [
    path("auth/signup", views.AuthSignupApi.as_view(), name="auth-signup"),
    path("auth/login", views.AuthLoginApi.as_view(), name="auth-login"),
    path("auth/password-reset", views.AuthPasswordResetApi.as_view(), name="auth-password-reset"),
    path("auth/password-reset/confirm", views.AuthPasswordResetConfirmApi.as_view(), name="auth-password-reset-confirm"),
    path("auth/refresh", views.AuthRefreshApi.as_view(), name="auth-refresh"),
    path("auth/logout", views.AuthLogoutApi.as_view(), name="auth-logout"),
    path("auth/session", views.AuthSessionApi.as_view(), name="auth-session"),
    path("users/me", views.UserMeApi.as_view(), name="users-me"),
    path("workspaces/<uuid:workspace_id>/members", views.WorkspaceMemberListApi.as_view(), name="workspace-members"),
    path("workspaces/<uuid:workspace_id>/members/<uuid:user_id>", views.WorkspaceMemberRemoveApi.as_view(), name="workspace-member"),
    path("workspaces/<uuid:workspace_id>/invitations", views.WorkspaceInvitationListApi.as_view(), name="workspace-invitations"),
    path("workspaces/<uuid:workspace_id>/invitations/<uuid:invitation_id>", views.WorkspaceInvitationRevokeApi.as_view(), name="workspace-invitation"),
    path("admin/users", views.AdminUserListApi.as_view(), name="admin-users"),
    path("admin/users/<uuid:user_id>/roles", views.AdminUserRoleAssignApi.as_view(), name="admin-user-roles"),
    path("admin/users/<uuid:user_id>/roles/<uuid:role_id>", views.AdminUserRoleRemoveApi.as_view(), name="admin-user-role"),
    path("admin/roles", views.AdminRoleListApi.as_view(), name="admin-roles"),
    *router.urls,
]
