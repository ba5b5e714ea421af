"""Serializers of the accounts API (shapes shared by several views)."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.serializers import ModelSerializer, Serializer, StrictCharField

from ..models import ApiKey, InvitationStatus, Role, User, Workspace, WorkspaceInvitation, WorkspaceMember
from ..selectors import user_role_list, user_tools


class RoleSerializer(ModelSerializer):
    """A role and the tools it grants."""

    class Meta:
        model = Role
        fields = ["id", "name", "description", "tools"]


class UserSerializer(Serializer):
    """A user's profile with roles, tools and tier.

    A plain Serializer with declared fields: ModelSerializer rebuilds its fields from the model
    on every instance, which showed up in the profile of the hottest route (`GET /users/me`).
    """

    id = serializers.UUIDField(read_only=True)
    email = serializers.EmailField(read_only=True)
    first_name = StrictCharField(read_only=True)
    last_name = StrictCharField(read_only=True)
    tier = StrictCharField(source="tier_id", read_only=True)
    roles = serializers.SerializerMethodField()
    tools = serializers.SerializerMethodField()
    is_active = serializers.BooleanField(read_only=True)
    created_at = serializers.DateTimeField(source="date_joined", read_only=True)
    last_login = serializers.DateTimeField(read_only=True, allow_null=True)  # null until the first login

    def get_roles(self, user: User) -> list[str]:
        return [role.name for role in user_role_list(user)]

    def get_tools(self, user: User) -> list[str]:
        return sorted(user_tools(user))


class AdminUserSerializer(UserSerializer):
    """A user as administrators see it (roles as objects)."""

    roles = serializers.SerializerMethodField()
    is_staff = serializers.BooleanField(read_only=True)
    is_superuser = serializers.BooleanField(read_only=True)

    def get_roles(self, user: User) -> list[dict[str, Any]]:  # type: ignore[override]  # the admin shape lists roles as objects, not names
        return [{"id": str(role.id), "name": role.name} for role in user_role_list(user)]


class ApiKeySerializer(ModelSerializer):
    """An API key without its secret."""

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "scopes", "rate_limit", "expires_at", "last_used_at", "created_at"]


class WorkspaceSerializer(ModelSerializer):
    """A workspace with the caller's role in it."""

    role = StrictCharField(source="my_role", read_only=True, default=None)
    member_count = serializers.IntegerField(read_only=True, default=None)
    name = StrictCharField(max_length=120)
    description = StrictCharField(max_length=500, required=False, allow_blank=True)

    class Meta:
        model = Workspace
        fields = ["id", "name", "description", "role", "member_count", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class WorkspaceMemberSerializer(ModelSerializer):
    """A member of a workspace."""

    user_id = serializers.UUIDField(source="user.id", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    name = StrictCharField(source="user.full_name", read_only=True)
    joined_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = WorkspaceMember
        fields = ["user_id", "email", "name", "role", "joined_at"]


class WorkspaceInvitationSerializer(ModelSerializer):
    """An invitation to a workspace (never its token: the link goes only to the invited address)."""

    status = serializers.ChoiceField(choices=InvitationStatus.choices, read_only=True)

    class Meta:
        model = WorkspaceInvitation
        fields = ["id", "email", "role", "status", "created_at", "expires_at"]
        read_only_fields = fields
