"""The OpenAI-compatible gateway in the OpenAPI schema.

The gateway's views are plain async Django views (no DRF: no thread hop for the stream), so
drf-spectacular cannot see them; this hook describes them in OpenAI's own wire format, errors
included (that route answers OpenAI's error shape, not the Nexus envelope).
"""
from __future__ import annotations

from typing import Any

_OPENAI_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "properties": {
        "message": {"type": "string"}, "type": {"type": "string"}, "param": {"type": "string", "nullable": True},
        "code": {"type": "string", "nullable": True}}}},
}
_MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
        "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}], "nullable": True},
        "tool_calls": {"type": "array", "items": {"type": "object"}},
        "tool_call_id": {"type": "string"},
        "name": {"type": "string"},
    },
}
_REQUEST = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "description": "A model `name` from GET /api/v1/openai/models."},
        "messages": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/OpenAIChatMessage"}},
        "stream": {"type": "boolean", "default": False},
        "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "max_tokens": {"type": "integer", "minimum": 1},
        "max_completion_tokens": {"type": "integer", "minimum": 1},
        "tools": {"type": "array", "items": {"type": "object"}},
        "tool_choice": {},
    },
    "additionalProperties": True,
    "description": "OpenAI Chat Completions. Parameters Nexus does not support are dropped and named in "
                   "`X-Nexus-Dropped-Params`; `api_base`, keys and headers are refused.",
}
_COMPLETION = {
    "type": "object",
    "required": ["id", "object", "created", "model", "choices"],
    "properties": {
        "id": {"type": "string"}, "object": {"type": "string", "enum": ["chat.completion"]},
        "created": {"type": "integer"}, "model": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object", "properties": {
            "index": {"type": "integer"}, "finish_reason": {"type": "string", "nullable": True},
            "message": {"$ref": "#/components/schemas/OpenAIChatMessage"}}}},
        "usage": {"type": "object", "properties": {
            "prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"}}},
    },
}
_MODELS = {
    "type": "object",
    "required": ["object", "data"],
    "properties": {"object": {"type": "string", "enum": ["list"]}, "data": {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "string"}, "object": {"type": "string", "enum": ["model"]}, "created": {"type": "integer"},
        "owned_by": {"type": "string"}}}}},
}


def _errors(*statuses: int) -> dict[str, Any]:
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAIError"}}}}
    return {str(status): {"description": "An error in OpenAI's shape.", **ref} for status in statuses}


def add_openai_gateway(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular hook: the two gateway routes, in OpenAI's wire format."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update({"OpenAIError": _OPENAI_ERROR, "OpenAIChatMessage": _MESSAGE, "OpenAIChatRequest": _REQUEST,
                    "OpenAIChatCompletion": _COMPLETION, "OpenAIModelList": _MODELS})
    security: list[dict[str, list[str]]] = [{"apiKey": []}, {"jwtAuth": []}]
    paths = result.setdefault("paths", {})
    paths["/api/v1/openai/chat/completions"] = {"post": {
        "operationId": "openai_chat_completions",
        "tags": ["openai"],
        "summary": "OpenAI-compatible chat completions (streaming with `stream: true`).",
        "security": security,
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAIChatRequest"}}}},
        "responses": {
            "200": {"description": "A completion, or with `stream: true` OpenAI's `chat.completion.chunk` events as SSE.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAIChatCompletion"}},
                                "text/event-stream": {"schema": {"type": "string"}}}},
            **_errors(400, 401, 402, 403, 404, 405, 413, 429, 500, 503),
        },
    }}
    paths["/api/v1/openai/models"] = {"get": {
        "operationId": "openai_models",
        "tags": ["openai"],
        "summary": "The caller's models in OpenAI's list shape.",
        "security": security,
        "responses": {"200": {"description": "Models.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OpenAIModelList"}}}},
                      **_errors(401, 403, 429)},
    }}
    return result
