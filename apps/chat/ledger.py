"""The page a credit ledger reference of chat names (declared as `ledger_links` on its AppConfig)."""
from __future__ import annotations

from collections.abc import Sequence

from django.urls import reverse

from apps.core.registry import ledger_ids

from .models import Message


def conversation_urls(refs: Sequence[str]) -> dict[str, str]:
    """`<reply id>` or `<reply id>.r<round>` (a tool round) -> the chat page opened on the reply's conversation (one query)."""
    reply_ids = ledger_ids(refs, ends=":.")
    if not reply_ids:
        return {}
    conversations = dict(Message.objects.filter(pk__in=set(reply_ids.values())).values_list("pk", "conversation_id"))
    page = reverse("chat:chat")
    # a reply missing here was deleted with its conversation since: no link
    return {ref: f"{page}?c={conversations[reply_id]}" for ref, reply_id in reply_ids.items() if reply_id in conversations}
