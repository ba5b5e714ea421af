"""Map every vendor SDK exception to the small error family of apps.llm.errors.

    timeout, connection error, 5xx, broken stream  -> ProviderUnavailable (503 MODEL_UNAVAILABLE)
    401/403 (the provider rejects *our* key)       -> ProviderAuthFailed  (503, tells the admin)
    429                                            -> ProviderRateLimited (retried first, then 429)
    other 4xx                                      -> ProviderRejected    (400)
"""
from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import anthropic
import httpx
import httpx2
import openai
from google.genai import errors as genai_errors

from apps.core.errors import ApplicationError

from ..errors import ProviderAuthFailed, ProviderRateLimited, ProviderRejected, ProviderUnavailable

logger = logging.getLogger("nexus.llm")

_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    openai.APIConnectionError,
    anthropic.APIConnectionError,
    httpx.TransportError,
    httpx.StreamError,
    httpx2.TransportError,
    httpx2.StreamError,
    asyncio.TimeoutError,
    TimeoutError,
    ConnectionError,
    aiohttp.ClientError,  # the SDKs' HTTP transport (providers.base.sdk_http_client), and google-genai's when installed
)
# The provider answered, but with something that is not its wire format (a broken chunk).
_MALFORMED: tuple[type[BaseException], ...] = (
    json.JSONDecodeError,
    genai_errors.UnknownApiResponseError,
    openai.APIResponseValidationError,
    anthropic.APIResponseValidationError,
)


def status_of(exc: BaseException) -> int | None:
    """The upstream HTTP status carried by an SDK exception, if any."""
    if isinstance(exc, (openai.APIStatusError, anthropic.APIStatusError)):
        return int(exc.status_code)
    if isinstance(exc, genai_errors.APIError):
        return int(exc.code) if exc.code else None
    if isinstance(exc, (httpx.HTTPStatusError, httpx2.HTTPStatusError)):
        return exc.response.status_code
    return None


def retry_after_of(exc: BaseException) -> float | None:
    """Seconds the provider asked us to wait (Retry-After), if it said."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    raw = headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except (TypeError, ValueError):
        return None


_TIMEOUTS = (openai.APITimeoutError, anthropic.APITimeoutError, httpx.TimeoutException, httpx2.TimeoutException, TimeoutError)


def _timed_out(exc: BaseException) -> bool:
    """Whether the call failed by waiting too long.

    The SDKs' aiohttp transport reports every lost connection (refused, or dropped mid-answer) as
    httpx's ConnectTimeout; aiohttp's own error, kept as its cause, says which it was: aiohttp's
    timeouts are TimeoutErrors, its other errors are not.
    """
    cause: BaseException | None = exc
    for _ in range(8):  # a chain is a few links long; never follow a looped one for good
        if cause is None:
            break
        if isinstance(cause, aiohttp.ClientError):
            return isinstance(cause, TimeoutError)
        cause = cause.__cause__
    return isinstance(exc, _TIMEOUTS)


def map_provider_error(exc: BaseException, *, provider: str) -> ApplicationError:
    """The Nexus error for an exception raised while talking to `provider`."""
    if isinstance(exc, ApplicationError):
        return exc
    status = status_of(exc)
    if status is None:
        if isinstance(exc, _MALFORMED):
            return ProviderUnavailable(f"The provider '{provider}' sent a malformed response; try again shortly.")
        if isinstance(exc, _CONNECTION_ERRORS) or isinstance(exc, (openai.APIError, anthropic.APIError)):
            kind = "timed out" if _timed_out(exc) else "could not be reached"
            return ProviderUnavailable(f"The provider '{provider}' {kind}; try again shortly.")
        logger.exception("Unexpected error from provider %s", provider, exc_info=exc)
        return ProviderUnavailable(f"The provider '{provider}' failed unexpectedly.")
    if status in (401, 403):
        return ProviderAuthFailed(
            f"The provider '{provider}' rejected Nexus's API key (HTTP {status}); an administrator must update it under Admin > Providers."
        )
    if status == 429:
        return ProviderRateLimited(f"The provider '{provider}' is rate limiting requests; try again shortly.",
                                   retry_after=int(retry_after_of(exc) or 5))
    if status == 404:
        return ProviderUnavailable(f"The provider '{provider}' does not serve this model; an administrator must fix the model registry.")
    if status >= 500 or status in (408, 409):
        return ProviderUnavailable(f"The provider '{provider}' failed (HTTP {status}); try again shortly.")
    return ProviderRejected(f"The provider '{provider}' rejected the request (HTTP {status}): {_upstream_message(exc)}")


def _upstream_message(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return str(message)[:300]


def is_rate_limit(exc: BaseException) -> bool:
    """True for an upstream 429 (the one error worth retrying before answering)."""
    return status_of(exc) == 429
