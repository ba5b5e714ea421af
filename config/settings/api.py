"""Django REST framework and the OpenAPI schema (drf-spectacular)."""
from __future__ import annotations

from typing import Any

from .environment import NEXUS_VERSION, env

__all__ = ["JSON_MAX_DEPTH", "REST_FRAMEWORK", "SPECTACULAR_SETTINGS"]

# JSON bodies (HTTP and WebSocket) nested deeper than this answer 400 before they are parsed.
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=64)

REST_FRAMEWORK = {
    # API key first: its 401 challenge is the one clients see; JWT next; the session (with CSRF) last.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.ApiKeyAuthentication",
        "apps.accounts.authentication.JwtAuthentication",
        "apps.accounts.authentication.CsrfSessionAuthentication",
    ],
    # Authenticated, and an API key's scopes must cover the view's `required_scope` (default "*").
    "DEFAULT_PERMISSION_CLASSES": ["apps.accounts.permissions.ApiKeyScope"],
    # The per-user (or per-key) limit of the caller's tier on every authenticated route.
    "DEFAULT_THROTTLE_CLASSES": ["apps.accounts.throttling.TierRateThrottle"],
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.parsers.LimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Never 406: SSE clients send `Accept: text/event-stream`; errors are always the JSON envelope.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "apps.core.negotiation.EnvelopeContentNegotiation",
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "apps.core.exception_handler.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "Nexus API",
    "DESCRIPTION": "Self-hosted AI platform: chat, knowledge, prompt chains, billing, agents and workflows.",
    "VERSION": NEXUS_VERSION,
    "SERVE_INCLUDE_SCHEMA": True,  # API.md: /api/v1/schema is itself a route of the API
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and Redoc are served from the platform's static files (drf-spectacular-sidecar), never a CDN:
    # a self-hosted or offline install must be able to open its own API docs.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No validator badge: Swagger UI would send the schema to a public validator service.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "PREPROCESSING_HOOKS": ["apps.core.openapi.only_api_routes"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.openapi.add_error_responses",
        "apps.gateway.openapi.add_openai_gateway",
    ],
    # Several apps have a `role` choice field; give the workspace one its own schema name.
    # Several resources have a `status` field with their own choices: each gets its own enum name.
    "ENUM_NAME_OVERRIDES": {
        "WorkspaceRoleEnum": "apps.accounts.models.WorkspaceRole",
        "BuildStatusEnum": "apps.forge.models.BuildStatus",
        "DeploymentStatusEnum": "apps.forge.models.DeploymentStatus",
        "RunStatusEnum": "apps.workflows.models.RunStatus",
        "StepStatusEnum": "apps.workflows.models.StepStatus",
        # The agents' serializers take `.values` (labels equal to the values): named by their values.
        "TaskStatusEnum": ["submitted", "working", "input-required", "completed", "failed", "cancelled", "timed_out"],
    },
}
