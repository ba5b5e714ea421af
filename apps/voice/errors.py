"""Voice errors (subclasses of the one ApplicationError family)."""
from __future__ import annotations

from apps.core.errors import NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationError


class VoiceSessionNotFound(NotFound):
    """The session does not exist, is not the caller's, or has ended."""

    default_message = "Voice session not found."


class AudioTooLarge(PayloadTooLarge):
    """More audio than one request or turn may carry."""


class AudioNotRecognized(UnsupportedMediaType):
    """The bytes are not audio in a supported container (wav, mp3, webm, ogg)."""


class NoSpeech(ValidationError):
    """The audio is silent, or nothing could be heard in it."""


class SpeechTextTooLong(ValidationError):
    """More text than one speech call may synthesize."""
