"""OpenAPI security schemes for the three authentication classes (drf-spectacular extensions)."""
from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """`nxk_` keys in the `x-api-key` header (or `Authorization: Bearer nxk_...`)."""

    target_class = "apps.accounts.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "An nxk_ API key (also accepted as a Bearer token)."}


class JwtScheme(OpenApiAuthenticationExtension):
    """JWT access tokens from /api/v1/auth/login."""

    target_class = "apps.accounts.authentication.JwtAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class SessionScheme(OpenApiAuthenticationExtension):
    """The dashboard's session cookie (unsafe methods need the CSRF token)."""

    target_class = "apps.accounts.authentication.CsrfSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
