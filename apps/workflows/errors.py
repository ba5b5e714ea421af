"""Workflows' domain errors."""
from apps.core.errors import Conflict


class RunNotResumable(Conflict):
    """Resume asked for a run that has not failed."""

    default_message = "Only a failed run can be resumed."


class RunEnded(Conflict):
    """Cancel asked for a run that has already ended."""

    default_message = "This run has already ended."


class VersionConflict(Conflict):
    """A block operation was made against an older version of the workflow."""

    default_message = "The workflow has changed since this version; re-sync and try again."

    def __init__(self, current_version: int) -> None:
        super().__init__(details={"current_version": [str(current_version)]})
        self.current_version = current_version
