"""The one error family of Nexus: every domain error subclasses ApplicationError.

The exception handler (apps.core.exception_handler) renders each one as the envelope of API.md:
`{"error": {"code", "message", "details", "request_id"}}` with the class's HTTP status.
"""
from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """Base of every error Nexus reports to a client."""

    status_code: int = 400
    code: str = "VALIDATION_ERROR"
    default_message: str = "The request is not valid."

    def __init__(self, message: str | None = None, *, details: dict[str, Any] | None = None) -> None:
        self.message = message or self.default_message
        self.details = details
        super().__init__(self.message)


class ValidationError(ApplicationError):
    """The input is malformed; `details` maps fields to messages."""

    status_code = 400
    code = "VALIDATION_ERROR"
    default_message = "The request is not valid."


class Unauthorized(ApplicationError):
    """No valid credentials were given."""

    status_code = 401
    code = "UNAUTHORIZED"
    default_message = "Authentication credentials were not provided or are not valid."


class InsufficientCredits(ApplicationError):
    """The caller's balance cannot cover the call."""

    status_code = 402
    code = "INSUFFICIENT_CREDITS"
    default_message = "Not enough credits for this request."


class Forbidden(ApplicationError):
    """The caller is known but may not do this."""

    status_code = 403
    code = "FORBIDDEN"
    default_message = "You do not have permission to do this."


class NotFound(ApplicationError):
    """The resource does not exist or the caller may not see it."""

    status_code = 404
    code = "NOT_FOUND"
    default_message = "Not found."


class MethodNotAllowed(ApplicationError):
    """The route exists but not for this HTTP method."""

    status_code = 405
    code = "METHOD_NOT_ALLOWED"
    default_message = "Method not allowed."


class Conflict(ApplicationError):
    """The request conflicts with the current state."""

    status_code = 409
    code = "CONFLICT"
    default_message = "The request conflicts with the current state."


class PayloadTooLarge(ApplicationError):
    """The body or a part of it is larger than allowed."""

    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    default_message = "The request is too large."


class UnsupportedMediaType(ApplicationError):
    """The body's type is not accepted here."""

    status_code = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    default_message = "Unsupported media type."


class RateLimited(ApplicationError):
    """Too many requests; `retry_after` says when to try again (seconds)."""

    status_code = 429
    code = "RATE_LIMITED"
    default_message = "Too many requests."

    def __init__(self, message: str | None = None, *, retry_after: int = 60, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = max(1, int(retry_after))


class InternalError(ApplicationError):
    """Something failed on our side."""

    status_code = 500
    code = "INTERNAL_ERROR"
    default_message = "Internal server error."


class ModelUnavailable(ApplicationError):
    """A provider is down, timed out or refused our credentials."""

    status_code = 503
    code = "MODEL_UNAVAILABLE"
    default_message = "The model is unavailable right now."


class ServiceUnavailable(ApplicationError):
    """A dependency of Nexus itself is unavailable."""

    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    default_message = "The service is unavailable right now."


# How long a client should wait before trying again when PostgreSQL or Redis is unreachable.
OUTAGE_RETRY_AFTER_SECONDS = 5


def outage_of(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 for an exception that means PostgreSQL or Redis is unreachable (never a 500), else None."""
    import psycopg
    import redis
    from django.db import InterfaceError, OperationalError

    if isinstance(exc, (OperationalError, InterfaceError, psycopg.OperationalError)):
        return ServiceUnavailable("The database is unavailable right now; try again shortly.",
                                  details={"service": ["database"]})
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)):
        return ServiceUnavailable("The cache and queue store (Redis) is unavailable right now; try again shortly.",
                                  details={"service": ["redis"]})
    kombu_errors = _broker_errors()
    if kombu_errors and isinstance(exc, kombu_errors):
        return ServiceUnavailable("The job queue is unavailable right now; try again shortly.", details={"service": ["broker"]})
    return None


def _broker_errors() -> tuple[type[BaseException], ...]:
    try:
        from kombu.exceptions import OperationalError as BrokerError
    except ImportError:  # pragma: no cover - Celery is always installed
        return ()
    return (BrokerError,)


# Status -> code for responses that did not come from an ApplicationError (Django 404s, DRF errors).
CODE_FOR_STATUS: dict[int, str] = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    402: "INSUFFICIENT_CREDITS",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def code_for_status(status: int) -> str:
    """The envelope code for an HTTP status without a more specific one."""
    if status in CODE_FOR_STATUS:
        return CODE_FOR_STATUS[status]
    return "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR"


def error_body(*, code: str, message: str, details: dict[str, Any] | None, request_id: str | None) -> dict[str, Any]:
    """The error envelope of API.md."""
    return {"error": {"code": code, "message": message, "details": details, "request_id": request_id}}
