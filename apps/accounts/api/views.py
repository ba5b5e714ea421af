"""HTTP views of the accounts API: parse, call a service or selector, render."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.openapi import error_responses
from apps.core.ratelimit import ratelimit_hit
from apps.core.selectors import get_or_404
from apps.core.serializers import Serializer, StrictCharField, StrictChoiceField
from apps.core.viewsets import ScopedModelViewSet, ScopedViewSetMixin

from .. import services
from ..authentication import auth_method
from ..caller import request_user
from ..models import ApiKey, Role, User, Workspace, WorkspaceRole
from ..permissions import ANY_KEY, FULL_ACCESS, IsAdminRole
from ..selectors import (
    api_key_list,
    role_list,
    user_list_admin,
    user_roles,
    user_tools,
    workspace_invitation_get,
    workspace_invitations_pending,
    workspace_list,
    workspace_members,
)
from .serializers import (
    AdminUserSerializer,
    ApiKeySerializer,
    RoleSerializer,
    UserSerializer,
    WorkspaceInvitationSerializer,
    WorkspaceMemberSerializer,
    WorkspaceSerializer,
)

# Django's MinimumLengthValidator (AUTH_PASSWORD_VALIDATORS) default, stated in the schema too.
PASSWORD_MIN_LENGTH = 8


def _client_ip(request: Request) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


def _limit_auth_attempt(request: Request, *, action: str, email: str) -> None:
    """Sign-up and login attempts are limited per client IP and per email address."""
    ratelimit_hit(request, group=f"auth-{action}-ip", key=_client_ip(request), rate=settings.AUTH_RATE_PER_IP)
    if email:
        ratelimit_hit(request, group=f"auth-{action}-email", key=email.strip().lower(), rate=settings.AUTH_RATE_PER_EMAIL)


TOKEN_PAIR = inline_serializer(
    "TokenPair",
    {
        "access_token": StrictCharField(),
        "refresh_token": StrictCharField(),
        "token_type": StrictCharField(),
        "expires_in": serializers.IntegerField(),
    },
)


# ------------------------------------------------------------------------------
# Authentication
# ------------------------------------------------------------------------------
class AuthSignupApi(APIView):
    """Create an account: `{email, password, first_name?, last_name?}` → 201 user."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    class InputSerializer(Serializer):
        class Meta:
            ref_name = "AuthSignupInput"

        email = serializers.EmailField(max_length=254)
        password = StrictCharField(min_length=PASSWORD_MIN_LENGTH, max_length=128, trim_whitespace=False)
        first_name = StrictCharField(max_length=150, required=False, allow_blank=True, default="")
        last_name = StrictCharField(max_length=150, required=False, allow_blank=True, default="")

    @extend_schema(operation_id="auth_signup", request=InputSerializer, responses={201: UserSerializer, **error_responses(403, 409)})
    def post(self, request: Request) -> Response:
        _limit_auth_attempt(request, action="signup", email=str(request.data.get("email", "")) if hasattr(request.data, "get") else "")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_create(**serializer.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class AuthLoginApi(APIView):
    """Exchange email and password for a JWT access/refresh pair."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    class InputSerializer(Serializer):
        class Meta:
            ref_name = "AuthLoginInput"

        email = serializers.EmailField(max_length=254)
        password = StrictCharField(max_length=128, trim_whitespace=False)

    @extend_schema(operation_id="auth_login", request=InputSerializer, responses={200: TOKEN_PAIR, **error_responses(403)})
    def post(self, request: Request) -> Response:
        _limit_auth_attempt(request, action="login", email=str(request.data.get("email", "")) if hasattr(request.data, "get") else "")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_authenticate(**serializer.validated_data)
        return Response(services.token_pair_issue(user=user))


class AuthPasswordResetApi(APIView):
    """Ask for a password reset link by mail: always 202, whether the address has an account or not."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    class InputSerializer(Serializer):
        class Meta:
            ref_name = "AuthPasswordResetInput"

        email = serializers.EmailField(max_length=254)

    @extend_schema(operation_id="auth_password_reset", request=InputSerializer,
                   responses={202: inline_serializer("PasswordResetAccepted", {"detail": StrictCharField()})})
    def post(self, request: Request) -> Response:
        email = str(request.data.get("email", "")) if hasattr(request.data, "get") else ""
        ratelimit_hit(request, group="auth-reset-ip", key=_client_ip(request), rate=settings.PASSWORD_RESET_RATE_PER_IP)
        if email:
            ratelimit_hit(request, group="auth-reset-email", key=email.strip().lower(), rate=settings.PASSWORD_RESET_RATE_PER_EMAIL)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_request(email=serializer.validated_data["email"])
        return Response({"detail": "If an account has this address, a reset link is on its way."}, status=status.HTTP_202_ACCEPTED)


class AuthPasswordResetConfirmApi(APIView):
    """Set a new password with the link's `uid` and `token`; the token works once and every login is revoked."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    class InputSerializer(Serializer):
        class Meta:
            ref_name = "AuthPasswordResetConfirmInput"

        uid = StrictCharField(max_length=64)
        token = StrictCharField(max_length=128)
        new_password = StrictCharField(min_length=PASSWORD_MIN_LENGTH, max_length=128, trim_whitespace=False)

    @extend_schema(operation_id="auth_password_reset_confirm", request=InputSerializer,
                   responses={200: inline_serializer("PasswordResetDone", {"detail": StrictCharField()})})
    def post(self, request: Request) -> Response:
        ratelimit_hit(request, group="auth-reset-confirm-ip", key=_client_ip(request), rate=settings.AUTH_RATE_PER_IP)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.password_reset_confirm(**serializer.validated_data)
        return Response({"detail": "Your password has been changed. Log in with it."})


class AuthRefreshApi(APIView):
    """Rotate a refresh token: a new pair; a used refresh token is rejected and its session revoked."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    class InputSerializer(Serializer):
        class Meta:
            ref_name = "AuthRefreshInput"

        refresh_token = StrictCharField(max_length=4096)

    @extend_schema(operation_id="auth_refresh", request=InputSerializer, responses={200: TOKEN_PAIR})
    def post(self, request: Request) -> Response:
        ratelimit_hit(request, group="auth-refresh-ip", key=_client_ip(request), rate="60/m")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(services.token_refresh(raw=serializer.validated_data["refresh_token"]))


class AuthLogoutApi(APIView):
    """Revoke the given refresh token (and its session family) and end the dashboard session."""

    permission_classes = [AllowAny]
    required_scope = ANY_KEY

    class InputSerializer(Serializer):
        class Meta:
            ref_name = "AuthLogoutInput"

        refresh_token = StrictCharField(max_length=4096, required=False, allow_blank=True)

    @extend_schema(operation_id="auth_logout", request=InputSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        raw = serializer.validated_data.get("refresh_token")
        if raw:
            services.token_revoke(raw=raw)
        if auth_method(request) == "session":
            logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AuthSessionApi(APIView):
    """Who is calling: user, roles, tools, tier, workspaces, and how they authenticated."""

    required_scope = ANY_KEY

    @extend_schema(
        operation_id="auth_session",
        responses={200: inline_serializer("Session", {
            "user": UserSerializer(), "roles": serializers.ListField(child=StrictCharField()),
            "tools": serializers.ListField(child=StrictCharField()), "tier": StrictCharField(),
            "workspace": serializers.DictField(allow_null=True), "workspaces": serializers.ListField(child=serializers.DictField()),
            "auth_method": StrictCharField(), "scopes": serializers.ListField(child=StrictCharField(), allow_null=True),
        })},
    )
    def get(self, request: Request) -> Response:
        user = request_user(request)
        workspaces = [{"id": str(w.id), "name": w.name, "role": w.my_role} for w in workspace_list(user=user)]  # type: ignore[attr-defined]  # my_role is annotated by workspace_list
        wanted = request.headers.get("X-Workspace-Id", "")
        current = next((w for w in workspaces if w["id"] == wanted.lower()), None)
        key = request.auth if isinstance(request.auth, ApiKey) else None
        return Response({
            "user": UserSerializer(user).data,
            "roles": [role.name for role in user_roles(user=user)],
            "tools": sorted(user_tools(user)),
            "tier": user.tier_id,
            "workspace": current,
            "workspaces": workspaces,
            "auth_method": auth_method(request),
            "scopes": key.scopes if key else None,
        })


# ------------------------------------------------------------------------------
# The caller's profile
# ------------------------------------------------------------------------------
class UserMeApi(APIView):
    """The caller's profile; PATCH changes names or (with the current one) the password."""

    required_scope = {"GET": ANY_KEY, "PATCH": FULL_ACCESS}

    class InputSerializer(Serializer):
        class Meta:
            ref_name = "UserMeInput"

        first_name = StrictCharField(max_length=150, required=False, allow_blank=True)
        last_name = StrictCharField(max_length=150, required=False, allow_blank=True)
        password = StrictCharField(min_length=PASSWORD_MIN_LENGTH, max_length=128, required=False, trim_whitespace=False,
                                   write_only=True)
        current_password = StrictCharField(max_length=128, required=False, trim_whitespace=False, write_only=True)

    @extend_schema(operation_id="users_me", responses={200: UserSerializer})
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)

    @extend_schema(operation_id="users_me_update", request=InputSerializer, responses={200: UserSerializer})
    def patch(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_update(user=request_user(request), **serializer.validated_data)
        return Response(UserSerializer(user).data)


# ------------------------------------------------------------------------------
# API keys
# ------------------------------------------------------------------------------
class ApiKeyViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                    mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """The caller's API keys: list, create (the key is in the answer once), revoke. Keys need `*`."""

    selector = staticmethod(api_key_list)
    serializer_class = ApiKeySerializer
    http_method_names = ["get", "post", "delete", "head", "options"]

    class InputSerializer(Serializer):
        class Meta:
            ref_name = "ApiKeyInput"

        name = StrictCharField(max_length=100)
        scopes = serializers.ListField(child=StrictCharField(max_length=20), default=lambda: ["*"])
        expires_in_days = serializers.IntegerField(min_value=1, max_value=3650, required=False, allow_null=True)
        rate_limit = serializers.IntegerField(min_value=1, max_value=100_000, required=False, allow_null=True)

    class CreatedSerializer(ApiKeySerializer):
        key = StrictCharField(read_only=True, help_text="The full key; shown only in this answer.")

        class Meta(ApiKeySerializer.Meta):
            fields = [*ApiKeySerializer.Meta.fields, "key"]

    @extend_schema(request=InputSerializer, responses={201: CreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, raw = services.api_key_create(user=request_user(request), **serializer.validated_data)
        data = self.CreatedSerializer(key).data
        data["key"] = raw
        return Response(data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: ApiKey) -> None:
        services.api_key_revoke(key=instance)


# ------------------------------------------------------------------------------
# Workspaces and members
# ------------------------------------------------------------------------------
class WorkspaceViewSet(ScopedModelViewSet):
    """Workspaces the caller belongs to; owners and admins change them, owners delete them."""

    selector = staticmethod(workspace_list)
    serializer_class = WorkspaceSerializer

    def perform_create(self, serializer: serializers.BaseSerializer[Workspace]) -> None:
        workspace = services.workspace_create(user=request_user(self.request), **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=workspace.pk)

    def perform_update(self, serializer: serializers.BaseSerializer[Workspace]) -> None:
        workspace = serializer.instance
        assert workspace is not None  # an update always has its object
        services.workspace_update(workspace=workspace, user=request_user(self.request), **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=workspace.pk)

    def perform_destroy(self, instance: Workspace) -> None:
        services.workspace_delete(workspace=instance, user=request_user(self.request))


def _workspace_for(request: Request, workspace_id: Any) -> Workspace:
    """The workspace if the caller belongs to it, else 404 (never 403: ids of others do not leak)."""
    return get_or_404(workspace_list(user=request_user(request)), pk=workspace_id)


class WorkspaceMemberListApi(ListAPIView):
    """List a workspace's members (any member); invite one `{email, role}` (owners and admins)."""

    serializer_class = WorkspaceMemberSerializer

    class InputSerializer(Serializer):
        class Meta:
            ref_name = "WorkspaceMemberListInput"

        email = serializers.EmailField(max_length=254)
        role = StrictChoiceField(choices=WorkspaceRole.choices, default=WorkspaceRole.MEMBER)

    def get_queryset(self) -> Any:
        return workspace_members(workspace=_workspace_for(self.request, self.kwargs["workspace_id"]))

    @extend_schema(
        operation_id="workspace_members_add",
        request=InputSerializer,
        responses={202: inline_serializer("WorkspaceInvitationSent", {"invitation": WorkspaceInvitationSerializer()}), **error_responses(403)},
    )
    def post(self, request: Request, workspace_id: Any) -> Response:
        # Always an invitation, never a membership: the answer is the same whether the address has
        # an account (or is a member already), so it cannot be used to find out.
        workspace = _workspace_for(request, workspace_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ratelimit_hit(request, group="workspace-invite", key=str(request_user(request).pk), rate=settings.WORKSPACE_INVITATION_RATE)
        invitation = services.invitation_create(workspace=workspace, user=request_user(request), **serializer.validated_data)
        return Response({"invitation": WorkspaceInvitationSerializer(invitation).data}, status=status.HTTP_202_ACCEPTED)


class WorkspaceInvitationListApi(ListAPIView):
    """A workspace's pending invitations, newest first (owners and admins)."""

    serializer_class = WorkspaceInvitationSerializer

    def get_queryset(self) -> Any:
        workspace = _workspace_for(self.request, self.kwargs["workspace_id"])
        return workspace_invitations_pending(user=request_user(self.request), workspace=workspace)

    @extend_schema(operation_id="workspace_invitations_list", responses={200: WorkspaceInvitationSerializer(many=True), **error_responses(403)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class WorkspaceInvitationRevokeApi(APIView):
    """Revoke an invitation (owners and admins): its link stops working."""

    @extend_schema(operation_id="workspace_invitations_revoke", responses={204: None, **error_responses(403, 409)})
    def delete(self, request: Request, workspace_id: Any, invitation_id: Any) -> Response:
        workspace = _workspace_for(request, workspace_id)
        user = request_user(request)
        invitation = workspace_invitation_get(user=user, workspace=workspace, invitation_id=invitation_id)
        services.invitation_revoke(invitation=invitation, user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WorkspaceMemberRemoveApi(APIView):
    """Remove a member (owners and admins, or a member leaving); the last owner stays (409)."""

    @extend_schema(operation_id="workspace_members_remove", responses={204: None, **error_responses(409)})
    def delete(self, request: Request, workspace_id: Any, user_id: Any) -> Response:
        workspace = _workspace_for(request, workspace_id)
        services.workspace_member_remove(workspace=workspace, user=request_user(request), member_user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ------------------------------------------------------------------------------
# Administration (role `admin`; keys need the `admin` scope)
# ------------------------------------------------------------------------------
class AdminUserListApi(ListAPIView):
    """Every user with roles, tier, created_at and last_login; `?search=` matches email and names."""

    permission_classes = [IsAdminRole]
    serializer_class = AdminUserSerializer

    def get_queryset(self) -> Any:
        return user_list_admin(search=self.request.query_params.get("search", ""))


def _admin_user(user_id: Any) -> User:
    return get_or_404(user_list_admin(), "No such user.", pk=user_id)


class AdminUserRoleAssignApi(APIView):
    """Give a user a role: `{role_id}` → the user with their roles."""

    permission_classes = [IsAdminRole]

    class InputSerializer(Serializer):
        class Meta:
            ref_name = "AdminUserRoleAssignInput"

        role_id = serializers.UUIDField()

    @extend_schema(operation_id="admin_user_role_assign", request=InputSerializer, responses={200: AdminUserSerializer})
    def post(self, request: Request, user_id: Any) -> Response:
        user = _admin_user(user_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        role = Role.objects.filter(pk=serializer.validated_data["role_id"]).first()
        if role is None:
            raise serializers.ValidationError({"role_id": ["No role has this id."]})
        services.role_assign(user=user, role=role)
        return Response(AdminUserSerializer(_admin_user(user_id)).data)


class AdminUserRoleRemoveApi(APIView):
    """Take a role from a user."""

    permission_classes = [IsAdminRole]

    @extend_schema(operation_id="admin_user_role_remove", responses={204: None})
    def delete(self, request: Request, user_id: Any, role_id: Any) -> Response:
        user = _admin_user(user_id)
        role = get_or_404(Role.objects.all(), "No such role.", pk=role_id)
        services.role_remove(user=user, role=role)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AdminRoleListApi(ListAPIView):
    """Every role with its tools."""

    permission_classes = [IsAdminRole]
    serializer_class = RoleSerializer

    def get_queryset(self) -> Any:
        return role_list()


