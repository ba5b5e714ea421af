"""Workflows' domain errors."""
from apps.core.errors import Conflict


class RunNotResumable(Conflict):
    """Resume asked for a run that has not failed."""

    default_message = "Only a failed run can be resumed."


class RunEnded(Conflict):
    """Cancel asked for a run that has already ended."""

    default_message = "This run has already ended."
