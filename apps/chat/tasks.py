"""Chat background jobs: conversation titles and the orphaned-reply reaper."""
from __future__ import annotations

import logging

from celery import shared_task

from apps.core.queues import CeleryQueue

from .models import Conversation
from .services import reply_orphans_reap

logger = logging.getLogger("nexus.chat")

TITLE_WORDS = 8


def _title_from_words(text: str) -> str:
    words = text.split()
    title = " ".join(words[:TITLE_WORDS])
    return (title + ("…" if len(words) > TITLE_WORDS else ""))[:200] or "New conversation"


@shared_task(queue=CeleryQueue.LLM.value)
def conversation_title_generate(conversation_id: str) -> None:
    """Give a new conversation a title: from a cheap model when one is set, else its first words."""
    conversation = Conversation.objects.filter(pk=conversation_id).select_related("owner").first()
    if conversation is None or conversation.title:
        return  # deleted, or titled already (idempotent)
    first = conversation.messages.filter(role="user").order_by("created_at").first()
    if first is None:
        return
    title = ""
    from django.conf import settings

    model = getattr(settings, "CHAT_TITLE_MODEL", "")
    if model:
        try:
            from apps.llm.client import complete_chat_sync

            completion = complete_chat_sync(
                user=conversation.owner, model=model, max_tokens=24, origin="chat-title",
                messages=[{"role": "user", "content": f"Write a short title (at most 6 words, no quotes) for a chat that starts with:\n\n{first.content[:2000]}"}],
            )
            title = completion.text.strip().strip('"').splitlines()[0][:200] if completion.text.strip() else ""
        except Exception:  # a title is a nicety: fall back to the first words
            logger.warning("Title model %s failed for conversation %s", model, conversation_id)
    Conversation.objects.filter(pk=conversation_id, title="").update(title=title or _title_from_words(first.content))


@shared_task(queue=CeleryQueue.DEFAULT.value)
def chat_reap_orphans() -> int:
    """Mark replies whose process died (no save for CHAT_ORPHAN_SECONDS) `incomplete`, and end their streams."""
    reaped = reply_orphans_reap()
    if reaped:
        logger.info("Marked %d orphaned replies incomplete", reaped)
    return reaped
