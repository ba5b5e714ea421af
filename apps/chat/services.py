"""Chat writes: folders, conversations, and starting a reply (every check before any provider call)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.limits import concurrency_slot, hourly_quota_check
from apps.accounts.policy import tier_policy
from apps.accounts.selectors import workspace_for_sharing
from apps.billing.metering import call_hold, hold_find, hold_settle
from apps.billing.models import CreditReservation
from apps.core.errors import ValidationError
from apps.core.registry import platform_tools
from apps.core.request_context import get_request_id
from apps.core.runs import cancel_key, cancel_request
from apps.core.streams import publish
from apps.llm.client import PreparedChat, chat_prepare

from .errors import MessageTooLarge
from .models import Conversation, Folder, Message, MessageStatus
from .selectors import conversation_get_for_write, folder_get, reply_stream_key

# The kind of run a reply is, for its cancel flag (apps.core.runs).
CANCEL_KIND = "chat"
# API.md: a chat with `tools` runs at most `max_tool_rounds` rounds of tool calls (default 5, at most 10).
DEFAULT_TOOL_ROUNDS = 5

if TYPE_CHECKING:
    from apps.accounts.models import User

# ------------------------------------------------------------------------------------------------
# Folders and conversations
# ------------------------------------------------------------------------------------------------

def folder_create(*, user: User, name: str) -> Folder:
    """A new folder for the caller."""
    return Folder.objects.create(owner=user, name=name.strip() or "Untitled")


def folder_update(*, folder: Folder, name: str) -> Folder:
    """Rename a folder."""
    folder.name = name.strip() or folder.name
    folder.save(update_fields=["name", "updated_at"])
    return folder


def folder_delete(*, folder: Folder) -> None:
    """Delete a folder; its conversations stay, outside any folder."""
    folder.delete()



def conversation_create(*, user: User, title: str = "", model_name: str = "", folder_id: Any = None, workspace_id: Any = None) -> Conversation:
    """A new, empty conversation."""
    folder = folder_get(user=user, folder_id=folder_id) if folder_id else None
    return Conversation.objects.create(
        owner=user, title=(title or "").strip()[:200], model_name=model_name, folder=folder,
        workspace_id=workspace_for_sharing(user=user, workspace_id=workspace_id),
    )


_UNSET: Any = object()


def conversation_update(*, user: User, conversation: Conversation, title: Any = _UNSET, folder_id: Any = _UNSET,
                        workspace_id: Any = _UNSET) -> Conversation:
    """Rename, move to a folder (None: out of any), share with a workspace (None: private)."""
    fields = ["updated_at"]
    if title is not _UNSET:
        conversation.title = (title or "").strip()[:200]
        fields.append("title")
    if folder_id is not _UNSET:
        # A folder is personal: only its owner can file conversations in it.
        conversation.folder = folder_get(user=user, folder_id=folder_id) if folder_id else None
        fields.append("folder")
    if workspace_id is not _UNSET:
        conversation.workspace_id = workspace_for_sharing(user=user, workspace_id=workspace_id)
        fields.append("workspace")
    conversation.save(update_fields=fields)
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    """Delete a conversation and its messages."""
    conversation.delete()


# ------------------------------------------------------------------------------------------------
# Starting a reply
# ------------------------------------------------------------------------------------------------

@dataclass
class ChatStart:
    """A checked chat turn: the stored user message, the reply placeholder, the prepared call."""

    conversation: Conversation
    created: bool
    user_message: Message
    reply: Message
    prepared: PreparedChat
    slot: concurrency_slot
    user: User
    sources: list[dict[str, Any]] = field(default_factory=list)
    reservation: CreditReservation | None = None
    api_key: Any = None
    # Platform tools the model may call (by name), and how many rounds of calls the generation runs.
    tools: list[str] = field(default_factory=list)
    max_tool_rounds: int = DEFAULT_TOOL_ROUNDS


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    if not messages or messages[-1].get("role") != "user":
        raise ValidationError("The last message must be the user's.", details={"messages": ["The last message must have role `user`."]})
    return messages[-1]["content"]


def _check_sizes(messages: Any) -> None:
    limit = settings.CHAT_MAX_MESSAGE_CHARS
    if isinstance(messages, list):
        for index, message in enumerate(messages):
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str) and len(content) > limit:
                raise MessageTooLarge(
                    f"Message {index} has {len(content)} characters; the limit is {limit}.",
                    details={f"messages[{index}].content": [f"At most {limit} characters."]},
                )


def _rag(*, user: User, query: str, repository_ids: list[uuid.UUID] | None,
         document_ids: list[uuid.UUID] | None) -> tuple[str, list[dict[str, Any]]]:
    """Context and sources from the knowledge app, scoped to what the caller may read."""
    if not repository_ids and not document_ids:
        return "", []
    from apps.knowledge.search import rag_context

    return rag_context(user=user, query=query, repository_ids=repository_ids or None, document_ids=document_ids or None)


def _tool_definitions(names: list[str] | None) -> tuple[list[str], list[dict[str, Any]] | None]:
    """The named platform tools as function definitions for the model (400 for a name no app registered).

    Whether the caller may use each one is checked when the model calls it (a FORBIDDEN tool-result),
    as API.md's Tools section says; the names only have to exist.
    """
    if not names:
        return [], None
    registered = platform_tools()
    unique = list(dict.fromkeys(names))
    unknown = [name for name in unique if name not in registered]
    if unknown:
        raise ValidationError(f"Unknown tool: {', '.join(unknown)}.",
                              details={"tools": [f"Unknown tool `{name}` (see GET /api/v1/tools)." for name in unknown]})
    return unique, [registered[name].function_definition() for name in unique]


def chat_start(*, user: User, api_key: Any, messages: list[dict[str, Any]], model_id: str, conversation_id: uuid.UUID | None = None,
               system_prompt: str | None = None, temperature: float | None = None, max_tokens: int | None = None,
               repository_ids: list[uuid.UUID] | None = None, document_ids: list[uuid.UUID] | None = None,
               tools: list[str] | None = None, max_tool_rounds: int | None = None) -> ChatStart:
    """Check a chat turn, take a stream slot, store the user message and a `streaming` reply.

    Everything that can refuse the request (bad input 400, unknown model 404, tier 403, size 413,
    limits 429, credits 402) happens here, before the response starts streaming.
    """
    _check_sizes(messages)
    policy = tier_policy(user)
    # The reply is streamed through Redis: 503 now, not a failed reply later (the quota's read finds it there).
    hourly_quota_check(user=user, kind="chat_tokens", limit=policy.chat_tokens_per_hour, redis_required=True)
    reply_id = uuid.uuid4()
    tool_names, tool_definitions = _tool_definitions(tools)
    prepared = chat_prepare(
        user=user, model=model_id, messages=messages, system_prompt=system_prompt,
        temperature=temperature, max_tokens=max_tokens, api_key=api_key, tools=tool_definitions,
        request_id=f"{get_request_id() or 'chat'}.{reply_id.hex}", origin="chat",
    )
    if tool_names and "tools" not in prepared.model.capabilities:
        raise ValidationError(f"The model '{prepared.model.name}' cannot call tools.",
                              details={"tools": [f"The model '{prepared.model.name}' has no `tools` capability."]})
    question = _last_user_text(prepared.request.messages)
    context, sources = _rag(user=user, query=question, repository_ids=repository_ids, document_ids=document_ids)
    if context:
        # Retrieved passages go in the system prompt with citation markers; the user's text is untouched.
        prepared.request.system_prompt = ((prepared.request.system_prompt or "") + "\n\n" + context).strip()

    if conversation_id:
        conversation = conversation_get_for_write(user=user, conversation_id=conversation_id)
        created = False
    else:
        conversation = None
        created = True

    slot = concurrency_slot(user=user, kind="chat", limit=policy.chat_concurrent)
    slot.__enter__()  # released by the reply's generation when it ends, however it ends
    try:
        # The hold and the reply are stored together or not at all: a process killed in between must
        # not leave a hold that no reply (and so no reaper) will ever settle.
        with transaction.atomic():
            now = timezone.now()
            turn = {"last_message_at": now, "updated_at": now, "model_name": prepared.model.name, "provider": prepared.model.provider_name}
            if conversation is None:  # created with this turn's two messages counted: no UPDATE after them
                conversation = Conversation.objects.create(owner=user, message_count=2, **turn)
            else:
                Conversation.objects.filter(pk=conversation.pk).update(message_count=F("message_count") + 2, **turn)
                # The row's F() count is exact under concurrent turns; the object shows this request's view of it.
                conversation.message_count += 2
                for name, value in turn.items():
                    setattr(conversation, name, value)
            user_message = Message.objects.create(conversation=conversation, role="user", content=question, status=MessageStatus.COMPLETE)
            reply = Message.objects.create(
                id=reply_id, conversation=conversation, role="assistant", status=MessageStatus.STREAMING,
                model_name=prepared.model.name, sources=sources or None,
            )
            # The hold last: it locks the user's credit account row until COMMIT, so the lock is held
            # for the hold alone, not for the rows written before it (one user's chats queue on it).
            reservation = _reserve_credits(user=user, prepared=prepared, reply_id=reply_id)
    except BaseException:
        slot.__exit__(None, None, None)
        raise
    return ChatStart(conversation=conversation, created=created, user_message=user_message, reply=reply, prepared=prepared,
                     slot=slot, user=user, sources=sources, reservation=reservation, api_key=api_key, tools=tool_names,
                     max_tool_rounds=max_tool_rounds or DEFAULT_TOOL_ROUNDS)


def _reserve_credits(*, user: User, prepared: PreparedChat, reply_id: uuid.UUID) -> CreditReservation:
    """Hold the most this reply can cost (402 before any provider call when the balance is short)."""
    return call_hold(user=user, prepared=prepared, origin="chat", ref=reply_id)


@transaction.atomic
def reply_orphan_settle(*, message_id: Any) -> dict[str, Any] | None:
    """Meter and charge what a reply whose process died had produced (the reaper's path; once per reply).

    The provider was paid for the tokens it streamed, so the saved part of the reply is counted
    locally (prompt from the conversation before it), recorded as a `stopped` usage record, shown
    on the message and settled against the reply's credit hold; the rest of the hold is released.
    """
    from apps.llm.models import LlmModel, UsageSource, UsageStatus
    from apps.llm.providers.base import Usage
    from apps.llm.services import usage_cost, usage_record_create
    from apps.llm.tokens import estimate_tokens

    message = Message.objects.select_for_update().select_related("conversation").filter(pk=message_id).first()
    if message is None or message.usage_record_id is not None:
        return None
    model = LlmModel.objects.select_related("provider").filter(name=message.model_name).first()
    earlier = Message.objects.filter(conversation_id=message.conversation_id, created_at__lt=message.created_at)
    prompt = sum(estimate_tokens(text) for text in earlier.values_list("content", flat=True))
    reasoning = estimate_tokens(message.reasoning or "")
    completion = estimate_tokens(message.content or "") + reasoning
    usage = Usage(prompt_tokens=prompt if completion else 0, completion_tokens=completion, reasoning_tokens=reasoning,
                  source=UsageSource.ESTIMATED)
    usage.cost = usage_cost(usage=usage, input_cost=model.input_cost, output_cost=model.output_cost) if model else Decimal(0)
    record = usage_record_create(
        user_id=message.conversation.owner_id, api_key_id=None, workspace_id=message.conversation.workspace_id,
        model_id=model.pk if model else None, model_name=message.model_name,
        provider_name=model.provider.name if model else "", usage=usage, status=UsageStatus.STOPPED, latency_ms=0,
        ttft_ms=None, streamed=True, origin="chat", request_id=f"reaped:{message.pk}",
        error_code="INTERNAL_ERROR", error_message="The process generating this reply stopped.",
    )
    token_usage = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                   "reasoning_tokens": reasoning, "total_tokens": usage.total_tokens, "cost": float(usage.cost),
                   "usage_record_id": str(record.pk)}
    Message.objects.filter(pk=message.pk).update(token_usage=token_usage, usage_record_id=record.pk)
    hold_settle(reservation=hold_find(origin="chat", ref=message.pk), usage=token_usage)
    return token_usage


def reply_stop(*, message: Message) -> None:
    """Ask the generation of `message` to stop, wherever it runs (it sees the flag within RUN_CANCEL_POLL_SECONDS)."""
    cancel_request(cancel_key(CANCEL_KIND, message.pk), ttl=600)


def orphan_cutoff() -> Any:
    """Replies not saved since this moment have lost their process."""
    return timezone.now() - timedelta(seconds=settings.CHAT_ORPHAN_SECONDS)


def reply_orphans_reap() -> int:
    """Mark replies whose process died (no save for CHAT_ORPHAN_SECONDS) `incomplete`, charge them, end their streams."""
    orphans = list(Message.objects.filter(status=MessageStatus.STREAMING, updated_at__lt=orphan_cutoff()).values_list("pk", flat=True))
    for message_id in orphans:
        updated = Message.objects.filter(pk=message_id, status=MessageStatus.STREAMING).update(
            status=MessageStatus.INCOMPLETE, error={"code": "INTERNAL_ERROR", "message": "The process generating this reply stopped."},
            updated_at=timezone.now(),
        )
        if updated:
            usage = reply_orphan_settle(message_id=message_id)  # the provider was paid for what was streamed
            publish(reply_stream_key(message_id), {"type": "finish", "status": MessageStatus.INCOMPLETE, "usage": usage,
                                                   "message_id": str(message_id)}, final=True)
    return len(orphans)
