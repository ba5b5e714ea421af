"""The API against its own OpenAPI schema: every operation fuzzed as a plain user and as an admin.

Bounded for CI: a fixed number of generated cases per operation (positive and negative data), a fixed
seed and derandomized generation, so every run sends the same requests. Requests go in process to the
Django WSGI app on the test database; provider, Stripe and embedding calls go to the loopback fakes.
"""
from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from tests.contract.conftest import CASES, Caller, Seeded
from tests.llm.conftest import (  # noqa: F401  (fixtures: the fake provider and models on it)
    FakeModels,
    committed_db,
    fake_llm,
    fake_llm_server,
    fake_models,
    fresh_llm_state,
)

MAX_EXAMPLES = 5
SEED = 20261204

CONFIG = schemathesis.Config.from_dict({
    "seed": SEED,
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    # The explicit examples and random fuzzing only: the coverage phase's case count grows with the schema.
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
})

ENVELOPE_KEYS = {"code", "message", "details", "request_id"}
# The OpenAI-compatible gateway answers errors in OpenAI's shape for OpenAI SDKs (docs/api-notes.md).
OPENAI_GATEWAY = "/api/v1/openai/"
OPENAI_ERROR_KEYS = {"message", "type", "param", "code"}


def no_server_error(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """No 5xx, except a documented 503 (a provider or service that is down)."""
    status = response.status_code
    if status >= 500 and not (status == 503 and "503" in case.operation.definition.raw.get("responses", {})):
        raise AssertionError(f"server error {status}: {response.text[:500]}")


def error_envelope(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every status >= 400 answers the one error envelope of API.md, with the response's request id."""
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"{response.status_code} without a JSON body: {response.text[:200]!r}") from None
    assert isinstance(body, dict) and set(body) == {"error"}, f"{response.status_code} is not the error envelope: {body!r}"
    error = body["error"]
    if case.operation.path.startswith(OPENAI_GATEWAY):
        assert isinstance(error, dict) and set(error) == OPENAI_ERROR_KEYS, f"OpenAI error keys: {error!r}"
        assert isinstance(error["message"], str) and error["message"], error
        return
    assert isinstance(error, dict) and set(error) == ENVELOPE_KEYS, f"envelope keys: {error!r}"
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    assert error["details"] is None or isinstance(error["details"], dict), error
    assert error["request_id"] == response.headers.get("x-request-id", [None])[0], "request_id differs from X-Request-ID"


# SSE views are async generators; served in process through WSGI, Django consumes them synchronously and says so.
pytestmark = pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators")

CHECKS = [no_server_error, error_envelope, status_code_conformance, content_type_conformance, response_schema_conformance]




def _app_schema() -> schemathesis.BaseSchema:
    """The schema /api/v1/schema serves, bound to the WSGI app so that requests go in process."""
    from drf_spectacular.generators import SchemaGenerator

    from config.wsgi import application

    loaded = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True), config=CONFIG)
    loaded.app = application
    return loaded


schema = _app_schema()


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_the_contract(case: schemathesis.Case, caller: Caller, seeded: Seeded) -> None:
    _send(case, caller)
    # Generated ids find nothing: the same case again on the caller's own resource reaches past the 404.
    real = seeded.path_parameters(case.operation.path, list(case.path_parameters or {}))
    if real:
        case.path_parameters = real
        _send(case, caller)


def _send(case: schemathesis.Case, caller: Caller) -> None:
    response = case.call(headers=caller.headers)
    CASES.setdefault(caller.role, {}).setdefault(case.operation.label, []).append(response.status_code)
    case.validate_response(response, checks=CHECKS)
