"""Domain errors of the llm app; each renders as the envelope of API.md through the one handler."""
from __future__ import annotations

from apps.core.errors import Forbidden, ModelUnavailable, NotFound, RateLimited, ValidationError


class ModelNotFound(NotFound):
    """The model is unknown, inactive, or its provider is not usable."""

    default_message = "Model not found."


class ModelNotInTier(Forbidden):
    """The model exists but the caller's tier may not use it."""

    default_message = "Your plan does not include this model."


class ChatInputInvalid(ValidationError):
    """Messages, roles, temperature or max_tokens are not acceptable."""

    default_message = "The chat request is not valid."


class ContextWindowExceeded(ValidationError):
    """The prompt plus the requested output does not fit the model's context window."""

    default_message = "The request is larger than the model's context window."


class ProviderUnavailable(ModelUnavailable):
    """The provider timed out, could not be reached, or failed (5xx)."""

    default_message = "The model's provider is unavailable right now; try again shortly."


class ProviderAuthFailed(ModelUnavailable):
    """The provider rejected Nexus's own API key: an admin has to fix the provider connection."""

    default_message = "The provider rejected Nexus's API key; an administrator must update it under Admin > Providers."


class ProviderRejected(ValidationError):
    """The provider refused the request itself (a 400 from upstream)."""

    default_message = "The provider rejected the request."


class ProviderRateLimited(RateLimited):
    """The provider kept answering 429 after our retries."""

    default_message = "The provider is rate limiting requests; try again shortly."


class SecretUnreadable(ModelUnavailable):
    """A stored provider key cannot be decrypted with any configured key."""

    default_message = "A stored provider key cannot be decrypted; check LLM_ENCRYPTION_KEYS."
