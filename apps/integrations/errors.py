"""Integration errors: what a tool hands the model when a connection is missing or the service refuses."""
from __future__ import annotations

from apps.core.errors import Conflict, ServiceUnavailable, ValidationError


class ConnectionMissing(Conflict):
    """The caller has no saved connection of the kind the action needs."""

    default_message = "No connection of this kind is saved."


class IntegrationRefused(Conflict):
    """The outside service refused the saved credentials (wrong, revoked or lacking a permission)."""

    default_message = "The service refused the saved connection."


class IntegrationBadRequest(ValidationError):
    """The outside service refused the request itself (an unknown channel, say)."""

    default_message = "The service refused the request."


class IntegrationUnavailable(ServiceUnavailable):
    """The outside service could not be reached or failed."""

    default_message = "The service could not be reached."
