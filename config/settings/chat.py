"""Chat: message size, reply persistence, the orphan reaper, conversation titles."""
from __future__ import annotations

from .environment import env

__all__ = [
    "CHAT_MAX_MESSAGE_CHARS",
    "CHAT_ORPHAN_SECONDS",
    "CHAT_TITLE_MODEL",
]

CHAT_MAX_MESSAGE_CHARS = env.int("CHAT_MAX_MESSAGE_CHARS", default=100_000)
# A streaming reply not saved for this long belongs to a dead process; the reaper marks it incomplete.
CHAT_ORPHAN_SECONDS = env.int("CHAT_ORPHAN_SECONDS", default=30)
# A cheap model (registry name) that titles new conversations; empty: the first words are the title.
CHAT_TITLE_MODEL = env("CHAT_TITLE_MODEL", default="")
