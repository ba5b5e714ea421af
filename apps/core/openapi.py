"""OpenAPI post-processing: the error envelope as a component, referenced by every operation."""
from __future__ import annotations

from typing import Any

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
                # Field errors: a list of messages, or for a list or nested field, the same shape per item or key.
                "details": {
                    "type": "object",
                    "nullable": True,
                    "additionalProperties": {"anyOf": [{"type": "array", "items": {}}, {"type": "object"}]},
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
            for status, description in _DEFAULT_ERRORS.items():
                responses.setdefault(status, {"description": description, "content": {"application/json": {"schema": ref}}})
    return result


def only_api_routes(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """drf-spectacular hook: document /api/v1/ routes only (/health is its alias outside the API)."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]
