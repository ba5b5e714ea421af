"""The one DRF exception handler: every error becomes the envelope of API.md."""
from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import BadRequest, PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import set_rollback

from .errors import OUTAGE_RETRY_AFTER_SECONDS, ApplicationError, RateLimited, code_for_status, error_body, outage_of
from .request_context import get_request_id

logger = logging.getLogger("nexus.errors")


def _flatten(detail: Any) -> Any:
    """DRF's ErrorDetail tree as plain lists of strings per field."""
    if isinstance(detail, dict):
        return {str(key): _flatten(value) if isinstance(value, dict) else _as_list(value) for key, value in detail.items()}
    return _as_list(detail)


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            out.append(_flatten(item) if isinstance(item, dict) else str(item))
        return out
    return [str(value)]


def _validation_details(detail: Any) -> tuple[str, dict[str, Any] | None]:
    if isinstance(detail, dict):
        details = _flatten(detail)
        non_field = details.pop("non_field_errors", None)
        if non_field:
            details["non_field_errors"] = non_field
        first = next(iter(details.values()), ["Invalid input."])
        first_text = first[0] if isinstance(first, list) and first and isinstance(first[0], str) else "Invalid input."
        return f"Invalid input: {first_text}", details
    items = _as_list(detail)
    return (items[0] if items else "Invalid input."), {"non_field_errors": items}


def retry_after(exc: Exception) -> str | None:
    """The `Retry-After` value (whole seconds, at least 1) of a rate limit or a DRF throttle; None for other errors.

    A throttle's fractional wait is rounded up: a client that waits what it is told must not be refused again.
    """
    if isinstance(exc, RateLimited):
        return str(exc.retry_after)
    if isinstance(exc, drf.Throttled) and exc.wait is not None:  # type: ignore[attr-defined]  # set in Throttled.__init__; the stubs leave it out
        return str(max(1, math.ceil(exc.wait)))  # type: ignore[attr-defined]  # as above
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render any exception raised in a DRF view as the error envelope."""
    headers: dict[str, str] = {}
    details: dict[str, Any] | None = None

    if isinstance(exc, ApplicationError):
        status, code, message, details = exc.status_code, exc.code, exc.message, exc.details
    elif isinstance(exc, RequestDataTooBig):
        status, code, message = 413, "PAYLOAD_TOO_LARGE", "The request body is too large."
    elif isinstance(exc, (SuspiciousOperation, BadRequest)):
        # Too many form fields or files, a malformed body: the client's fault, never a 500.
        status, code, message = 400, "VALIDATION_ERROR", f"The request body was refused: {exc}"
    elif isinstance(exc, Http404):
        status, code, message = 404, "NOT_FOUND", "Not found."
    elif isinstance(exc, PermissionDenied):
        status, code, message = 403, "FORBIDDEN", "You do not have permission to do this."
    elif isinstance(exc, DjangoValidationError):
        status, code = 400, "VALIDATION_ERROR"
        message, details = _validation_details(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, drf.ValidationError):
        status, code = 400, "VALIDATION_ERROR"
        message, details = _validation_details(exc.detail)
    elif isinstance(exc, drf.APIException):
        status = exc.status_code
        if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
            status = 401  # the envelope always says 401 for missing or bad credentials
        code = code_for_status(status)
        message = str(exc.detail) if not isinstance(exc.detail, (list, dict)) else "Request failed."
        if isinstance(exc, drf.UnsupportedMediaType):
            code = "UNSUPPORTED_MEDIA_TYPE"
        auth_header = getattr(exc, "auth_header", None)
        if status == 401 and auth_header:
            headers["WWW-Authenticate"] = auth_header
    elif (outage := outage_of(exc)) is not None:
        logger.warning("Dependency unavailable: %s: %s", type(exc).__name__, exc)
        status, code, message, details = outage.status_code, outage.code, outage.message, outage.details
        headers["Retry-After"] = str(OUTAGE_RETRY_AFTER_SECONDS)
    else:
        request = context.get("request")
        logger.exception("Unhandled error in %s", getattr(request, "path", "?"))
        status, code, message = 500, "INTERNAL_ERROR", "Internal server error."

    wait = retry_after(exc)
    if wait is not None:
        headers["Retry-After"] = wait
    set_rollback()
    request = context.get("request")
    if request is not None:
        # The envelope is JSON whatever renderer the view negotiated (the schema view's first is YAML).
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type
    response = Response(
        error_body(code=code, message=message, details=details, request_id=get_request_id()),
        status=status,
        headers=headers,
    )
    response.nexus_envelope = True  # type: ignore[attr-defined]  # our marker: the body is already the envelope
    return response
