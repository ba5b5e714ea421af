"""OpenAPI post-processing: the error envelope as a component, referenced by every operation."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse

ERROR_ENVELOPE = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details", "request_id"],
            "properties": {
                "code": {
                    "type": "string",
                    "enum": [
                        "VALIDATION_ERROR", "UNAUTHORIZED", "INSUFFICIENT_CREDITS", "FORBIDDEN", "NOT_FOUND",
                        "METHOD_NOT_ALLOWED", "CONFLICT", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE",
                        "RATE_LIMITED", "INTERNAL_ERROR", "MODEL_UNAVAILABLE", "SERVICE_UNAVAILABLE",
                    ],
                },
                "message": {"type": "string"},
                "details": {
                    "type": "object",
                    "nullable": True,
                    "description": "Field errors as `{field: [message, ...]}` (nested per item or key for list and "
                                   "object fields); some errors put other facts here (e.g. the allowed file types).",
                    "additionalProperties": {},
                },
                "request_id": {"type": "string"},
            },
        }
    },
}

_DEFAULT_ERRORS = {
    "400": "Invalid input (field errors in `details`).",
    "401": "Missing or invalid credentials.",
    "403": "Authenticated but not allowed.",
    "404": "Not found, or not visible to the caller.",
    "429": "Rate limited; see `Retry-After`.",
    "500": "Internal error.",
}


# Answered by the middleware and parsers to any request with a body.
_BODY_ERRORS = {
    "413": "The body is larger than the server accepts.",
    "415": "The body's Content-Type is not one this operation takes.",
}

# What a view means when it lists one of these statuses (see `error_responses`).
_DESCRIPTIONS = {
    "402": "Not enough credits for this call.",
    "409": "Conflicts with the current state (the message says which).",
    "503": "A model, provider or outside service is unavailable; try again later.",
    **_DEFAULT_ERRORS,
    **_BODY_ERRORS,
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The error answers an operation adds to the defaults, for `extend_schema(responses=...)`; the hook adds the envelope."""
    return {status: OpenApiResponse(description=_DESCRIPTIONS.get(str(status), "Error.")) for status in statuses}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular hook: declare the envelope and attach it to every operation's error answers."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorEnvelope"] = ERROR_ENVELOPE
    ref = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            defaults = {**_DEFAULT_ERRORS, **(_BODY_ERRORS if "requestBody" in operation else {})}
            for status, description in defaults.items():
                responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                # Error answers a view declared by status only are the envelope too.
                if status[:1] in {"4", "5"} and "content" not in response:
                    response["content"] = {"application/json": {"schema": ref}}
    return result


def only_api_routes(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """drf-spectacular hook: document /api/v1/ routes only (/health is its alias outside the API)."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]
