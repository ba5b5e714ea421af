"""Middleware for request ids, the /api/ error envelope and rate-limit headers.

Each class serves both sync and async requests so that async views (SSE streams) never pay a
thread hop for middleware.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import render

from .errors import OUTAGE_RETRY_AFTER_SECONDS, ApplicationError, code_for_status, error_body, outage_of
from .request_context import REQUEST_ID_HEADER, current_request_id, request_id_from_header

logger = logging.getLogger("nexus.request")

GetResponse = Callable[[HttpRequest], Any]

API_PREFIX = "/api/"


def is_api_request(request: HttpRequest) -> bool:
    """True for routes whose errors must be the JSON envelope."""
    return request.path.startswith(API_PREFIX) or request.path == "/health"


def envelope_response(
    *, status: int, message: str, code: str | None = None, details: dict[str, Any] | None = None, request: HttpRequest | None = None
) -> JsonResponse:
    """A JsonResponse carrying the error envelope, tagged so no later layer wraps it again."""
    request_id = getattr(request, "request_id", None) or current_request_id.get()
    response = JsonResponse(
        error_body(code=code or code_for_status(status), message=message, details=details, request_id=request_id),
        status=status,
    )
    response.nexus_envelope = True  # type: ignore[attr-defined]  # our marker: the body is already the envelope
    return response


class _DualMiddleware:
    """Base for middleware that handles sync and async requests with the same hooks."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        early = self.before(request)
        if early is not None:
            return self.after(request, early)
        try:
            response = self.get_response(request)
        finally:
            self.finally_(request)
        return self.after(request, response)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        early = self.before(request)
        if early is not None:
            return self.after(request, early)
        try:
            response = await self.get_response(request)
        finally:
            self.finally_(request)
        return self.after(request, response)

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        """Runs before the view; a response returned here short-circuits it."""
        return None

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        """Runs on the response."""
        return response

    def finally_(self, request: HttpRequest) -> None:
        """Runs after the view, whatever happened."""


_REQUEST_ID_META = "HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_")


class RequestIdMiddleware(_DualMiddleware):
    """Gives each request an id (echoing a valid incoming X-Request-ID) and returns it in the header."""

    def before(self, request: HttpRequest) -> None:
        # META, not request.headers: that builds a dict of every header, which nothing else on an API request needs.
        request_id = request_id_from_header(request.META.get(_REQUEST_ID_META))
        request.request_id = request_id  # type: ignore[attr-defined]  # our own attribute on the request
        request._request_id_token = current_request_id.set(request_id)  # type: ignore[attr-defined]  # our own attribute on the request
        return None

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        response[REQUEST_ID_HEADER] = request.request_id  # type: ignore[attr-defined]  # set above
        return response

    def finally_(self, request: HttpRequest) -> None:
        token = getattr(request, "_request_id_token", None)
        if token is not None:
            try:
                current_request_id.reset(token)
            except ValueError:  # reset from another context (async streaming); harmless
                pass


def _route_body_limit(path: str) -> int:
    """MAX_REQUEST_BYTES, or more for a view that declares `max_request_bytes` (audio uploads); resolved only for large bodies."""
    from django.urls import Resolver404, resolve

    try:
        match = resolve(path)
    except Resolver404:
        return settings.MAX_REQUEST_BYTES
    view_class = getattr(match.func, "view_class", None) or getattr(match.func, "cls", None)
    return max(settings.MAX_REQUEST_BYTES, int(getattr(view_class, "max_request_bytes", 0) or 0))


class ApiErrorEnvelopeMiddleware(_DualMiddleware):
    """Makes every >= 400 answer under /api/ the error envelope, whatever produced it.

    DRF errors are already enveloped by the exception handler; this catches Django's own answers
    (unknown routes, CSRF failures, oversize bodies) and unhandled exceptions.
    """

    def before(self, request: HttpRequest) -> HttpResponseBase | None:
        if not is_api_request(request):
            return None
        length = request.META.get("CONTENT_LENGTH") or "0"
        try:
            size = int(length)
        except ValueError:
            return envelope_response(status=400, message="Content-Length is not a number.", request=request)
        if size > settings.MAX_REQUEST_BYTES:
            limit = _route_body_limit(request.path_info)
            if size > limit:
                return envelope_response(status=413, message=f"The request body is larger than {limit} bytes.", request=request)
        return None

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if response.status_code < 400 or not is_api_request(request) or getattr(response, "nexus_envelope", False):
            return response
        if getattr(response, "streaming", False):
            return response
        if _is_envelope(response):
            return response
        message = _reason_for(response)
        enveloped = envelope_response(status=response.status_code, message=message, request=request)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                enveloped[header] = response[header]
        return enveloped

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponseBase | None:
        """Unhandled errors under /api/ become an envelope, never an HTML page or a traceback.

        On pages, the platform's own client errors (another user's id: 404, a missing role: 403, ...)
        are the styled error page with their status and message, not a server error.
        """
        if not is_api_request(request):
            if isinstance(exception, ApplicationError) and exception.status_code < 500:
                return error_page(request, status=exception.status_code, message=exception.message)
            return None
        if isinstance(exception, RequestDataTooBig):
            return envelope_response(status=413, message="The request body is too large.", request=request)
        outage = outage_of(exception)
        if outage is not None:
            logger.warning("Dependency unavailable on %s %s: %s", request.method, request.path, exception)
            response = envelope_response(status=503, message=outage.message, request=request, details=outage.details)
            response["Retry-After"] = str(OUTAGE_RETRY_AFTER_SECONDS)
            return response
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return envelope_response(status=500, message="Internal server error.", request=request)


_PAGE_TITLES = {400: "That did not work", 401: "Please sign in", 402: "Not enough credits", 403: "Not allowed",
                404: "Page not found", 409: "That cannot be done now", 429: "Too many requests"}


def error_page(request: HttpRequest, *, status: int, message: str) -> HttpResponse:
    """The dashboard's styled error page for a client error."""
    title = _PAGE_TITLES.get(status, "That did not work")
    return render(request, "error.html", {"title": title, "message": message}, status=status)


def _is_envelope(response: HttpResponseBase) -> bool:
    if "application/json" not in response.get("Content-Type", ""):
        return False
    try:
        body = json.loads(response.content)  # type: ignore[attr-defined]  # a streaming response has none: AttributeError below
    except (ValueError, AttributeError):
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), dict) and "code" in body["error"]


def _reason_for(response: HttpResponseBase) -> str:
    messages = {
        403: "You do not have permission to do this.",
        404: "Not found.",
        405: "Method not allowed.",
        413: "The request is too large.",
        500: "Internal server error.",
    }
    if response.status_code == 403 and b"CSRF" in getattr(response, "content", b""):
        return "CSRF verification failed: send the X-CSRFToken header with session authentication."
    return messages.get(response.status_code, getattr(response, "reason_phrase", "") or "Error.")


class RateLimitHeadersMiddleware(_DualMiddleware):
    """Copies the rate-limit state a view recorded onto the response headers."""

    def after(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        state = getattr(request, "ratelimit_state", None)
        if state is not None:
            for name, value in state.headers().items():
                response[name] = value
        return response

