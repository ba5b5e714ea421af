"""One exception family, mapped from the API's error envelope (`{"error": {code, message, details, request_id}}`)."""
from __future__ import annotations

from typing import Any

import httpx


class NexusError(Exception):
    """Base of every error the SDK raises."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 details: dict[str, Any] | None = None, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = details
        self.request_id = request_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"


class APIError(NexusError):
    """The server answered with an error envelope (status >= 400)."""


class ValidationError(APIError):
    """400 VALIDATION_ERROR; `details` maps field names to messages."""


class Unauthorized(APIError):
    """401: missing, revoked or expired credentials."""


class InsufficientCredits(APIError):
    """402: the balance cannot pay for the call."""


class Forbidden(APIError):
    """403: the caller's roles, scopes or tier do not allow this."""


class NotFound(APIError):
    """404: no such resource, or one the caller cannot see."""


class MethodNotAllowed(APIError):
    """405."""


class Conflict(APIError):
    """409: the resource is not in a state that allows this."""


class PayloadTooLarge(APIError):
    """413."""


class UnsupportedMediaType(APIError):
    """415."""


class RateLimited(APIError):
    """429 after the SDK's retries; `retry_after` is what the server asked to wait (seconds)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InternalError(APIError):
    """500."""


class ServiceUnavailable(APIError):
    """503 SERVICE_UNAVAILABLE after the SDK's retries."""


class ModelUnavailable(ServiceUnavailable):
    """503 MODEL_UNAVAILABLE: the provider is down or timed out."""


class NexusConnectionError(NexusError):
    """The server could not be reached, or the connection dropped."""


class NexusTimeout(NexusConnectionError):
    """The request timed out."""


class StreamError(NexusError):
    """An SSE stream sent an `error` event (or a WebSocket an `error` message)."""


_BY_CODE: dict[str, type[APIError]] = {
    "VALIDATION_ERROR": ValidationError,
    "UNAUTHORIZED": Unauthorized,
    "INSUFFICIENT_CREDITS": InsufficientCredits,
    "FORBIDDEN": Forbidden,
    "NOT_FOUND": NotFound,
    "METHOD_NOT_ALLOWED": MethodNotAllowed,
    "CONFLICT": Conflict,
    "PAYLOAD_TOO_LARGE": PayloadTooLarge,
    "UNSUPPORTED_MEDIA_TYPE": UnsupportedMediaType,
    "RATE_LIMITED": RateLimited,
    "INTERNAL_ERROR": InternalError,
    "MODEL_UNAVAILABLE": ModelUnavailable,
    "SERVICE_UNAVAILABLE": ServiceUnavailable,
}
_BY_STATUS: dict[int, type[APIError]] = {
    400: ValidationError, 401: Unauthorized, 402: InsufficientCredits, 403: Forbidden, 404: NotFound,
    405: MethodNotAllowed, 409: Conflict, 413: PayloadTooLarge, 415: UnsupportedMediaType, 429: RateLimited,
    500: InternalError, 503: ServiceUnavailable,
}


def retry_after_of(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form), if any."""
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def error_from_response(response: httpx.Response) -> APIError:
    """The exception for an error answer, from its envelope (or its status when the body is not one)."""
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        pass
    envelope = body.get("error") if isinstance(body, dict) else None
    if isinstance(envelope, dict):
        code = str(envelope.get("code") or "")
        message = str(envelope.get("message") or response.reason_phrase)
        details = envelope.get("details")
        request_id = envelope.get("request_id")
    else:
        code, message, details, request_id = "", response.text[:500] or response.reason_phrase, None, None
    request_id = request_id or response.headers.get("x-request-id")
    cls = _BY_CODE.get(code) or _BY_STATUS.get(response.status_code) or (InternalError if response.status_code >= 500 else APIError)
    kwargs: dict[str, Any] = {"status": response.status_code, "code": code or None, "details": details, "request_id": request_id}
    if cls is RateLimited:
        return RateLimited(message, retry_after=retry_after_of(response), **kwargs)
    return cls(message, **kwargs)
