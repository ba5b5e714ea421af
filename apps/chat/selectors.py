"""Chat reads, always scoped to what the caller may see."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet

from apps.accounts.selectors import can_write, visible_to
from apps.core.errors import Forbidden
from apps.core.selectors import get_or_404
from apps.core.streams import stream_key

from .models import Comparison, Conversation, Folder, Message, MessageStatus

if TYPE_CHECKING:
    from apps.accounts.models import User


def folder_list(*, user: User) -> QuerySet[Folder]:
    """The caller's folders."""
    return Folder.objects.filter(owner=user)



def folder_get(*, user: User, folder_id: Any) -> Folder:
    """One of the caller's folders, else 404."""
    return get_or_404(folder_list(user=user), "Folder not found.", pk=folder_id)


def conversation_list(*, user: User, folder_id: str | None = None, search: str | None = None) -> QuerySet[Conversation]:
    """Conversations the caller owns or that are shared with one of their workspaces."""
    queryset = visible_to(user=user, queryset=Conversation.objects.all())
    if folder_id:
        queryset = queryset.filter(folder_id=folder_id)
    if search:
        queryset = queryset.filter(Q(title__icontains=search) | Q(messages__content__icontains=search)).distinct()
    return queryset.select_related("folder")


def conversation_get(*, user: User, conversation_id: Any) -> Conversation:
    """A conversation the caller may read, else 404."""
    return get_or_404(visible_to(user=user, queryset=Conversation.objects.all()), "Conversation not found.", pk=conversation_id)


def conversation_get_for_write(*, user: User, conversation_id: Any) -> Conversation:
    """A conversation the caller may change: 404 when invisible, 403 when read-only to them."""
    conversation = conversation_get(user=user, conversation_id=conversation_id)
    if not can_write(user=user, obj=conversation):
        raise Forbidden("This conversation is shared with you read-only.")
    return conversation


def message_list(*, user: User, conversation: Conversation) -> QuerySet[Message]:
    """A conversation's messages, oldest first (the caller must already see the conversation)."""
    return Message.objects.filter(conversation=conversation).order_by("created_at", "id")


def message_streaming(*, conversation: Conversation) -> Message | None:
    """The reply being generated in a conversation now, if any."""
    return (
        Message.objects.filter(conversation=conversation, role="assistant", status=MessageStatus.STREAMING)
        .order_by("-created_at")
        .first()
    )


def comparison_list(*, user: User) -> QuerySet[Comparison]:
    """The caller's comparisons, newest first."""
    return Comparison.objects.filter(owner=user)


def reply_stream_key(message_id: Any) -> str:
    """The core.streams key of a reply's events (the reply's own stream, replayable by any reader)."""
    return stream_key("chat", message_id)
