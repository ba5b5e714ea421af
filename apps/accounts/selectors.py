"""Reads of the accounts app, always scoped to the caller, and the one workspace sharing rule.

Sharing rule (every app reuses it): a resource belongs to an owner and may be shared with one
workspace. Its owner and every member of that workspace may read it (`visible_to`); its owner
and the workspace's owners and admins may change it (`can_write`).
"""
from __future__ import annotations

import hashlib
from typing import Any, TypeVar
from uuid import UUID

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Case, Count, Model, OuterRef, Q, QuerySet, Subquery, Value, When
from django.utils import timezone

from apps.core.errors import Forbidden, NotFound, ValidationError
from apps.core.registry import tool_names

from .models import WORKSPACE_WRITERS, ApiKey, Role, User, Workspace, WorkspaceInvitation, WorkspaceMember

M = TypeVar("M", bound=Model)

# Cached on the user instance: one query per request at most, however many checks a view makes.
_ROLES_ATTR = "_nexus_roles"


def user_role_list(user: User | AnonymousUser | None) -> list[Role]:
    """The roles a user holds, cached on the user instance (one query per request)."""
    if not isinstance(user, User):  # None or anonymous
        return []
    cached = getattr(user, _ROLES_ATTR, None)
    if cached is None:
        prefetched = getattr(user, "_prefetched_objects_cache", {}).get("roles")  # admin lists prefetch them
        if prefetched is not None:
            cached = sorted(prefetched, key=lambda role: role.name)
        else:
            cached = list(Role.objects.filter(user_links__user_id=user.pk).order_by("name"))
        setattr(user, _ROLES_ATTR, cached)
    return cached


def user_tools(user: User | AnonymousUser | None) -> frozenset[str]:
    """Every tool the user's roles grant; a superuser has them all."""
    if user is None or not getattr(user, "is_authenticated", False):
        return frozenset()
    if user.is_superuser:
        return frozenset(tool_names())
    return frozenset(tool for role in user_role_list(user) for tool in role.tools)


def user_has_tool(user: User | AnonymousUser | None, tool: str) -> bool:
    """Whether the user's roles grant `tool`."""
    return tool in user_tools(user)


def user_roles(*, user: User) -> list[Role]:
    """The roles a user holds, by name."""
    return user_role_list(user)


def user_workspace_ids(user: User | AnonymousUser | None) -> QuerySet[Any]:
    """Ids of the workspaces the user belongs to, as a lazy queryset usable as a subquery."""
    if not isinstance(user, User):  # None or anonymous
        return WorkspaceMember.objects.none().values_list("workspace_id", flat=True)
    return WorkspaceMember.objects.filter(user_id=user.pk).values_list("workspace_id", flat=True)


def user_workspace_role(*, user: User, workspace_id: UUID | str) -> str | None:
    """The user's role in a workspace, or None when not a member."""
    if not getattr(user, "is_authenticated", False):
        return None
    return WorkspaceMember.objects.filter(user_id=user.pk, workspace_id=workspace_id).values_list("role", flat=True).first()


def workspace_for_sharing(*, user: User, workspace_id: Any) -> Any:
    """The workspace id to share a resource with (None or "": private); 400 unless the caller is a member."""
    if workspace_id in (None, ""):
        return None
    try:
        role = user_workspace_role(user=user, workspace_id=workspace_id)
    except (ValueError, TypeError, DjangoValidationError):  # not a UUID: names no workspace of theirs
        role = None
    if role is None:
        raise ValidationError(
            "You can only share with a workspace you belong to.", details={"workspace_id": ["Not a workspace you belong to."]}
        )
    return workspace_id


def visible_to(*, user: User, queryset: QuerySet[M], owner_field: str = "owner", workspace_field: str | None = "workspace") -> QuerySet[M]:
    """Rows of `queryset` the user may read: their own, and those shared with a workspace they belong to."""
    if user is None or not getattr(user, "is_authenticated", False):
        return queryset.none()
    rule = Q(**{f"{owner_field}_id": user.pk})
    if workspace_field:
        rule |= Q(**{f"{workspace_field}_id__in": user_workspace_ids(user)})
    return queryset.filter(rule)


def can_write(*, user: User, obj: Model, owner_field: str = "owner", workspace_field: str | None = "workspace") -> bool:
    """Whether the user may change `obj`: its owner, or an owner/admin of the workspace it is shared with."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if getattr(obj, f"{owner_field}_id", None) == user.pk:
        return True
    workspace_id = getattr(obj, f"{workspace_field}_id", None) if workspace_field else None
    if workspace_id is None:
        return False
    return WorkspaceMember.objects.filter(user_id=user.pk, workspace_id=workspace_id, role__in=WORKSPACE_WRITERS).exists()


def api_key_for_raw(raw: str) -> ApiKey | None:
    """The key (with its user) whose digest matches `raw`, active or not; one indexed lookup."""
    digest = hashlib.sha256(raw.encode()).hexdigest()
    return ApiKey.objects.select_related("user").filter(digest=digest).first()


def api_key_list(*, user: User) -> QuerySet[ApiKey]:
    """The caller's keys that are not revoked (expired ones stay listed, marked by `expires_at`)."""
    return ApiKey.objects.filter(user=user, revoked_at__isnull=True)


def workspace_list(*, user: User) -> QuerySet[Workspace]:
    """Workspaces the caller belongs to, with the caller's role and the member count."""
    if not getattr(user, "is_authenticated", False):
        return Workspace.objects.none()
    my_role = WorkspaceMember.objects.filter(workspace=OuterRef("pk"), user_id=user.pk).values("role")[:1]
    return (
        # Filter by subquery, not by a join on memberships: the join would also narrow the count.
        Workspace.objects.filter(pk__in=user_workspace_ids(user))
        .annotate(my_role=Subquery(my_role), member_count=Count("memberships"))
        .order_by("name", "id")
    )


def workspace_members(*, workspace: Workspace) -> QuerySet[WorkspaceMember]:
    """A workspace's members with their users, owners first."""
    rank = Case(When(role="owner", then=Value(0)), When(role="admin", then=Value(1)), default=Value(2))
    return workspace.memberships.select_related("user").order_by(rank, "created_at", "id")


def workspace_invitations_pending(*, user: User, workspace: Workspace) -> QuerySet[WorkspaceInvitation]:
    """The workspace's open invitations, newest first, for its owners and admins (403 for members, 404 for others)."""
    role = user_workspace_role(user=user, workspace_id=workspace.pk)
    if role is None:
        raise NotFound()
    if role not in WORKSPACE_WRITERS:
        raise Forbidden("Only the workspace's owners and admins can see its invitations.")
    return WorkspaceInvitation.objects.filter(
        workspace=workspace, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now(),
    ).select_related("invited_by").order_by("-created_at", "id")


def workspace_invitation_get(*, user: User, workspace: Workspace, invitation_id: UUID | str) -> WorkspaceInvitation:
    """One invitation of a workspace the caller belongs to (404 when the workspace has no such invitation)."""
    if user_workspace_role(user=user, workspace_id=workspace.pk) is None:
        raise NotFound()
    try:
        invitation = WorkspaceInvitation.objects.select_related("workspace").filter(workspace=workspace, pk=invitation_id).first()
    except (ValueError, TypeError, DjangoValidationError):
        invitation = None
    if invitation is None:
        raise NotFound("This workspace has no such invitation.")
    return invitation


def user_list_admin(*, search: str = "") -> QuerySet[User]:
    """Every user, for administrators, optionally filtered by email or name."""
    queryset = User.objects.select_related("tier").prefetch_related("roles").order_by("-date_joined", "id")
    search = search.strip()
    if search:
        queryset = queryset.filter(Q(email__icontains=search) | Q(first_name__icontains=search) | Q(last_name__icontains=search))
    return queryset


def role_list() -> QuerySet[Role]:
    """Every role with its tools."""
    return Role.objects.order_by("name")
