"""Assistant Architect's domain errors."""
from apps.core.errors import Conflict, PayloadTooLarge, ValidationError


class ToolInvalid(ValidationError):
    """A tool definition that cannot run: unknown names, forward references, duplicates, models."""

    default_message = "The tool is not valid."


class InputsTooLarge(PayloadTooLarge):
    """Execution inputs above ARCHITECT_MAX_INPUT_BYTES."""

    default_message = "The inputs are too large."


class ToolNotRunnable(Conflict):
    """An archived tool, or a tool without prompts."""

    default_message = "This tool cannot be run."


class ExecutionFinished(Conflict):
    """Cancel was asked for an execution that has already ended."""

    default_message = "This execution has already ended."
