"""The page a credit ledger reference of chat names (declared as `ledger_links` on its AppConfig)."""
from __future__ import annotations

import uuid

from django.urls import reverse

from .models import Message


def conversation_url(ref: str) -> str | None:
    """`<reply id>` or `<reply id>.r<round>` (a tool round) -> the chat page opened on the reply's conversation."""
    try:
        reply_id = uuid.UUID(ref.split(":", 1)[0].split(".", 1)[0])
    except ValueError:
        return None
    conversation_id = Message.objects.filter(pk=reply_id).values_list("conversation_id", flat=True).first()
    if conversation_id is None:  # the conversation was deleted since
        return None
    return f"{reverse('chat:chat')}?c={conversation_id}"
