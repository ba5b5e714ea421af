"""Django admin: users (roles and tier), tiers, roles, workspaces with members, API keys (never the secret)."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.core.registry import tool_names

from . import services
from .models import ApiKey, Role, Tier, User, UserRole, Workspace, WorkspaceInvitation, WorkspaceMember


class UserRoleInline(admin.TabularInline):
    """The roles a user holds."""

    model = UserRole
    extra = 0
    autocomplete_fields = ["role"]
    verbose_name = "role"
    verbose_name_plural = "roles"


class ApiKeyInline(admin.TabularInline):
    """A user's keys, read-only: prefix, scopes, last use; never the key or its digest."""

    model = ApiKey
    extra = 0
    can_delete = False
    fields = readonly_fields = ("name", "prefix", "scopes", "last_used_at", "expires_at", "revoked_at")
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # keys are created by their owner, who must see the secret once


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    """Users by email, with roles, tier, search and filters."""

    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "tier", "role_names", "is_staff", "is_active", "date_joined", "last_login"]
    list_filter = ["tier", "roles", "is_staff", "is_superuser", "is_active"]
    search_fields = ["email", "first_name", "last_name"]
    readonly_fields = ["date_joined", "last_login"]
    list_select_related = ["tier"]
    inlines = [UserRoleInline, ApiKeyInline]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("first_name", "last_name")}),
        ("Plan", {"fields": ("tier",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2", "tier")}),)

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("roles")

    @admin.display(description="roles")
    def role_names(self, obj: User) -> str:
        return ", ".join(role.name for role in obj.roles.all())


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    """Tiers and their limits (every app reads them through the tier policy)."""

    list_display = ["slug", "name", "monthly_credits", "price_cents", "api_rpm", "chat_rpm", "chat_concurrent", "position"]
    list_editable = ["monthly_credits", "price_cents", "position"]
    ordering = ["position", "slug"]
    fieldsets = (
        (None, {"fields": ("slug", "name", "position", "monthly_credits", "price_cents", "currency")}),
        ("General", {"fields": ("api_rpm",)}),
        ("Chat", {"fields": ("chat_rpm", "chat_tokens_per_hour", "chat_concurrent")}),
        ("Compare", {"fields": ("compare_rpm", "compare_concurrent")}),
        ("Assistant Architect", {"fields": ("architect_rpm", "architect_prompts_per_hour", "architect_concurrent")}),
        ("Uploads", {"fields": ("upload_rpm", "upload_max_bytes")}),
    )


def _tool_choices() -> list[tuple[str, str]]:
    return [(tool, tool) for tool in tool_names()]  # read when the form is built: the apps declare the tools


class RoleForm(forms.ModelForm):
    """Tools as checkboxes, so only known tools can be granted."""

    tools = forms.MultipleChoiceField(choices=_tool_choices, widget=forms.CheckboxSelectMultiple, required=False)

    class Meta:
        model = Role
        fields = ["name", "description", "tools"]


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    """Roles and the tools they grant."""

    form = RoleForm
    list_display = ["name", "description", "tool_list"]
    search_fields = ["name"]

    @admin.display(description="tools")
    def tool_list(self, obj: Role) -> str:
        return ", ".join(obj.tools)


class WorkspaceMemberInline(admin.TabularInline):
    """Members of a workspace and their roles."""

    model = WorkspaceMember
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    """Workspaces with their members."""

    list_display = ["name", "created_by", "created_at"]
    search_fields = ["name", "memberships__user__email"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [WorkspaceMemberInline]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """API keys: prefix, owner, scopes, last use, and a revoke action; never the key or its digest."""

    list_display = ["name", "prefix", "user", "scopes", "rate_limit", "last_used_at", "expires_at", "revoked_at", "created_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["name", "prefix", "user__email"]
    list_select_related = ["user"]
    fields = ["name", "prefix", "user", "scopes", "rate_limit", "expires_at", "last_used_at", "revoked_at", "created_at"]
    readonly_fields = ["prefix", "user", "last_used_at", "revoked_at", "created_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the owner creates keys (the secret is shown to them once)

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = 0
        for key in queryset.filter(revoked_at__isnull=True):
            services.api_key_revoke(key=key)
            count += 1
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)


@admin.register(WorkspaceInvitation)
class WorkspaceInvitationAdmin(admin.ModelAdmin):
    """Workspace invitations: who was invited where, by whom, and what became of it; never the token."""

    list_display = ["email", "workspace", "role", "status", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at"]
    list_filter = ["role", ("accepted_at", admin.EmptyFieldListFilter), ("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["email", "workspace__name", "invited_by__email"]
    list_select_related = ["workspace", "invited_by"]
    fields = ["email", "workspace", "role", "invited_by", "created_at", "expires_at", "accepted_at", "accepted_by", "revoked_at"]
    readonly_fields = ["email", "workspace", "role", "invited_by", "created_at", "expires_at", "accepted_at", "accepted_by", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # owners and admins invite from the workspace page (the link is mailed, never shown)

    @admin.action(description="Revoke the selected invitations")
    def revoke(self, request: HttpRequest, queryset: QuerySet[WorkspaceInvitation]) -> None:
        count = 0
        for invitation in queryset.filter(accepted_at__isnull=True, revoked_at__isnull=True):
            services.invitation_revoke(invitation=invitation, user=None)
            count += 1
        self.message_user(request, f"Revoked {count} invitation(s).", messages.SUCCESS)
