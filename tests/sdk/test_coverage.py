"""Every route of the OpenAPI schema has an SDK method, or is on the SDK's documented not-wrapped list."""
from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator
from nexus_sdk.coverage import NOT_WRAPPED, wrapped_routes

pytestmark = pytest.mark.django_db

METHODS = {"get", "post", "put", "patch", "delete"}


def _schema_routes() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {(method.upper(), path.rstrip("/")) for path, operations in schema["paths"].items() for method in operations if method in METHODS}


def _shape(route: tuple[str, str]) -> tuple[str, str]:
    """Placeholder names differ between the schema and the SDK ({id} vs {document_id}); compare shapes."""
    import re

    return route[0], re.sub(r"\{\w+\}", "{}", route[1])


def test_every_schema_route_has_an_sdk_method() -> None:
    schema = {_shape(route) for route in _schema_routes()}
    wrapped = {_shape(route) for route in wrapped_routes()}
    skipped = {_shape(route) for route in NOT_WRAPPED}
    missing = sorted(schema - wrapped - skipped)
    assert not missing, f"routes without an SDK method (add one, or list it in nexus_sdk.coverage.NOT_WRAPPED with a reason): {missing}"


def test_the_sdk_wraps_nothing_the_server_does_not_have() -> None:
    schema = {_shape(route) for route in _schema_routes()}
    stale = sorted(route for route, name in wrapped_routes().items() if _shape(route) not in schema)
    assert not stale, f"SDK methods for routes that are not in the schema: {stale}"
    assert not {_shape(route) for route in NOT_WRAPPED} - schema, "NOT_WRAPPED lists routes that no longer exist"
    assert all(reason for reason in NOT_WRAPPED.values())
