"""Domain errors of the accounts app; the one exception handler renders each as the envelope."""
from __future__ import annotations

from apps.core.errors import Conflict, Forbidden, Unauthorized


class InvalidCredentials(Unauthorized):
    """The email and password do not match an active account."""

    default_message = "The email or password is not correct."


class InvalidRefreshToken(Unauthorized):
    """The refresh token is malformed, expired, revoked or already used."""

    default_message = "The refresh token is not valid."


class InvalidApiKey(Unauthorized):
    """The API key is unknown, revoked or expired."""

    default_message = "The API key is not valid, revoked or expired."


class EmailTaken(Conflict):
    """An account with this email already exists."""

    default_message = "An account with this email already exists."


class AlreadyMember(Conflict):
    """The user already belongs to the workspace."""

    default_message = "This user is already a member of the workspace."


class LastOwner(Conflict):
    """A workspace must keep at least one owner."""

    default_message = "A workspace must keep at least one owner."


class InsufficientScope(Forbidden):
    """The API key's scopes do not cover the route."""

    default_message = "This API key's scopes do not cover this route."


class MissingTool(Forbidden):
    """The caller's roles do not grant the tool of the route."""

    default_message = "Your roles do not grant access to this tool."
