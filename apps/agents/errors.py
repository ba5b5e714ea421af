"""Domain errors of the agents app (each renders as the envelope of API.md through core's handler)."""
from apps.core.errors import Conflict, ValidationError


class AgentInvalid(ValidationError):
    """An agent definition with field errors (skills, schemas, endpoint)."""

    default_message = "The agent is not valid."


class TaskFinished(Conflict):
    """The task already ended (or is in no state that accepts this)."""

    default_message = "The task is not in a state that allows this."


class AlreadyRated(Conflict):
    """A task is rated once, by its requester."""

    default_message = "This task was already rated."
