"""Assistant Architect reads, always scoped to what the caller may see.

A tool is visible to its owner; to everyone (with the `assistant-architect` tool, which every
route checks) once published and not shared with a workspace; and to the members of the
workspace it is shared with. Executions are visible to the user who ran them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Prefetch, Q, QuerySet

from apps.accounts.selectors import can_write, user_workspace_ids
from apps.core.errors import Forbidden
from apps.core.runs import cancel_key
from apps.core.selectors import get_or_404
from apps.core.streams import stream_key

from .models import Execution, InputField, Prompt, PromptResult, Tool, ToolStatus

if TYPE_CHECKING:
    from apps.accounts.models import User


def tool_list(*, user: User, status: str | None = None, mine: bool = False) -> QuerySet[Tool]:
    """Tools the caller may see (optionally only theirs, or of one status)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return Tool.objects.none()
    if mine:
        rule = Q(owner_id=user.pk)
    else:
        rule = (Q(owner_id=user.pk) | Q(workspace_id__in=user_workspace_ids(user))
                | Q(status=ToolStatus.PUBLISHED, workspace__isnull=True))
    queryset = Tool.objects.filter(rule)
    if status:
        queryset = queryset.filter(status=status)
    return queryset.select_related("owner").prefetch_related(
        Prefetch("input_fields", queryset=InputField.objects.order_by("order", "name")),
        Prefetch("prompts", queryset=Prompt.objects.order_by("position", "order")),
    )



def tool_get(*, user: User, tool_id: Any) -> Tool:
    """A tool the caller may see, else 404."""
    return get_or_404(tool_list(user=user), "Tool not found.", pk=tool_id)


def tool_can_write(*, user: User, tool: Tool) -> bool:
    """Its owner, or an owner/admin of the workspace it is shared with."""
    return can_write(user=user, obj=tool)


def tool_get_for_write(*, user: User, tool_id: Any) -> Tool:
    """A tool the caller may change: 404 when invisible, 403 when read-only to them."""
    tool = tool_get(user=user, tool_id=tool_id)
    if not tool_can_write(user=user, tool=tool):
        raise Forbidden("Only the tool's owner (or its workspace's owners and admins) can change it.")
    return tool


def execution_list(*, user: User, tool_id: Any = None, status: str | None = None) -> QuerySet[Execution]:
    """The caller's executions, newest first."""
    if user is None or not getattr(user, "is_authenticated", False):
        return Execution.objects.none()
    queryset = Execution.objects.filter(owner_id=user.pk)
    if tool_id:
        queryset = queryset.filter(tool_id=tool_id)
    if status:
        queryset = queryset.filter(status=status)
    return queryset.prefetch_related(Prefetch("results", queryset=PromptResult.objects.order_by("position", "started_at")))


def execution_get(*, user: User, execution_id: Any) -> Execution:
    """One of the caller's executions, else 404."""
    return get_or_404(execution_list(user=user), "Execution not found.", pk=execution_id)


def running_count(*, user: User) -> int:
    """How many of the caller's executions are pending or running."""
    return Execution.objects.filter(owner_id=user.pk, status__in=["pending", "running"]).count()


def execution_stream_key(execution_id: Any) -> str:
    """The Redis stream of an execution's events."""
    return stream_key("architect", execution_id)


def execution_cancel_key(execution_id: Any) -> str:
    """The cancel flag (apps.core.runs) that asks the worker running an execution to stop."""
    return cancel_key("architect", execution_id)
