"""Chat's domain errors."""
from apps.core.errors import Conflict, PayloadTooLarge


class MessageTooLarge(PayloadTooLarge):
    """A message longer than CHAT_MAX_MESSAGE_CHARS."""


class NothingGenerating(Conflict):
    """Stop was asked for a conversation with no reply in progress."""

    default_message = "Nothing is being generated in this conversation."
