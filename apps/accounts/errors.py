"""Domain errors of the accounts app; the one exception handler renders each as the envelope."""
from __future__ import annotations

from apps.core.errors import Conflict, Forbidden, NotFound, Unauthorized


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


class InvitationNotFound(NotFound):
    """The invitation link is not valid (no invitation has this token, or a newer link replaced it)."""

    default_message = "This invitation link is not valid. Ask for a new invitation."


class InvitationClosed(Conflict):
    """The invitation was revoked, has expired, or was accepted by someone else."""

    default_message = "This invitation can no longer be used. Ask for a new invitation."


class InvitationWrongAccount(Forbidden):
    """The signed-in account's email is not the address the invitation was sent to."""

    default_message = (
        "This invitation was sent to another email address. Log in with the account of that address to accept it."
    )
