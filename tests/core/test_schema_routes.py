"""Every /api/ route is in the OpenAPI schema (API.md: every /api/v1/ HTTP route appears in it)."""
from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db

# Routes that cannot be described, each with its reason.
NOT_IN_SCHEMA: dict[str, str] = {
    "/api/v1/docs": "the Swagger UI page for people, not an API operation",
    "/api/v1/redoc": "the Redoc page for people, not an API operation",
}


def _walk(patterns: list[Any], prefix: str = "") -> list[str]:
    routes: list[str] = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            routes += _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            routes.append(prefix + str(entry.pattern))
    return routes


def _normalise(route: str) -> str:
    route = route.replace("^", "").replace("$", "")
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "{param}", route)  # regex groups (DRF routers)
    route = re.sub(r"<(?:\w+:)?(\w+)>", "{param}", route)  # path converters
    route = re.sub(r"\\\.\(\?P<format>[^)]*\)/?|\.\{param\}/?$", "", route)
    return "/" + route.replace("\\", "").rstrip("/")


def test_every_api_url_pattern_is_in_the_schema() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    documented = {re.sub(r"\{\w+\}", "{param}", path).rstrip("/") for path in schema["paths"]}
    routes = {_normalise(route) for route in _walk(get_resolver().url_patterns) if route.startswith("api/")}
    routes = {route for route in routes if "{format}" not in route and not route.endswith("{param}.{param}")}
    missing = sorted(route for route in routes - documented if route not in NOT_IN_SCHEMA)
    assert routes, "no /api/ routes found"
    assert not missing, f"routes missing from the OpenAPI schema: {missing}"


def test_the_schema_route_and_the_openai_gateway_are_described() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert "get" in schema["paths"]["/api/v1/schema"]
    chat = schema["paths"]["/api/v1/openai/chat/completions"]["post"]
    assert chat["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("OpenAIChatRequest")
    assert "200" in chat["responses"] and "402" in chat["responses"]
    assert "get" in schema["paths"]["/api/v1/openai/models"]
