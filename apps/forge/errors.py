"""Forge's domain errors."""
from apps.core.errors import Conflict, PayloadTooLarge


class PromptTooLong(PayloadTooLarge):
    """A build prompt above FORGE_MAX_PROMPT_CHARS."""

    default_message = "The prompt is too long."


class BuildNotFinished(Conflict):
    """Deploy or download asked for a build that has not completed."""

    default_message = "This build has not completed."
