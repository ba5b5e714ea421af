"""The API contract core: the error envelope, request ids, pagination, rate-limit headers."""
from __future__ import annotations

import json

import pytest
from django.test import Client

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.urls")]


def _envelope(response) -> dict:  # type: ignore[no-untyped-def]
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["request_id"] == response["X-Request-ID"]
    assert error["message"]
    return error


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [
        ("validation", 400, "VALIDATION_ERROR"),
        ("unauthorized", 401, "UNAUTHORIZED"),
        ("credits", 402, "INSUFFICIENT_CREDITS"),
        ("forbidden", 403, "FORBIDDEN"),
        ("not-found", 404, "NOT_FOUND"),
        ("conflict", 409, "CONFLICT"),
        ("unavailable", 503, "MODEL_UNAVAILABLE"),
    ],
)
def test_application_errors_render_the_envelope(kind: str, status: int, code: str) -> None:
    response = Client().get(f"/api/v1/_test/raise/{kind}")
    assert response.status_code == status
    assert _envelope(response)["code"] == code


def test_validation_error_carries_field_details() -> None:
    response = Client().get("/api/v1/_test/raise/validation")
    assert _envelope(response)["details"] == {"name": ["This field is required."]}


def test_serializer_errors_become_field_details() -> None:
    response = Client().put("/api/v1/_test/echo", {"name": "x" * 20, "count": "many"}, content_type="application/json")
    error = _envelope(response)
    assert response.status_code == 400
    assert error["code"] == "VALIDATION_ERROR"
    assert set(error["details"]) == {"name", "count"}
    assert all(isinstance(message, str) for messages in error["details"].values() for message in messages)


def test_malformed_json_is_a_400_envelope() -> None:
    response = Client().put("/api/v1/_test/echo", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert _envelope(response)["code"] == "VALIDATION_ERROR"


def test_unknown_api_route_is_a_404_envelope() -> None:
    response = Client().get("/api/v1/no/such/route")
    assert response.status_code == 404
    assert _envelope(response)["code"] == "NOT_FOUND"


def test_unknown_page_outside_the_api_is_html() -> None:
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    assert "text/html" in response["Content-Type"]


def test_wrong_method_is_a_405_envelope() -> None:
    response = Client().post("/api/v1/_test/echo", {}, content_type="application/json")
    assert response.status_code == 405
    assert _envelope(response)["code"] == "METHOD_NOT_ALLOWED"


def test_oversize_body_is_a_413_envelope_before_it_is_read(settings) -> None:  # type: ignore[no-untyped-def]
    settings.MAX_REQUEST_BYTES = 1000
    response = Client().put("/api/v1/_test/echo", json.dumps({"name": "x" * 2000}), content_type="application/json")
    assert response.status_code == 413
    assert _envelope(response)["code"] == "PAYLOAD_TOO_LARGE"


def test_body_over_djangos_memory_limit_is_a_413_envelope(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = Client().put("/api/v1/_test/echo", json.dumps({"name": "x" * 500, "count": 1}), content_type="application/json")
    assert response.status_code == 413
    assert _envelope(response)["code"] == "PAYLOAD_TOO_LARGE"


def test_unhandled_exception_is_a_500_envelope_without_internals() -> None:
    client = Client(raise_request_exception=False)
    response = client.get("/api/v1/_test/raise/crash")
    assert response.status_code == 500
    error = _envelope(response)
    assert error["code"] == "INTERNAL_ERROR"
    assert "boom" not in json.dumps(error)


class TestRequestIds:
    def test_a_new_id_on_every_response(self) -> None:
        first = Client().get("/api/v1/health")["X-Request-ID"]
        second = Client().get("/api/v1/health")["X-Request-ID"]
        assert first and second and first != second

    def test_a_valid_incoming_id_is_echoed(self) -> None:
        response = Client().get("/api/v1/_test/raise/not-found", HTTP_X_REQUEST_ID="trace-abc-12345")
        assert response["X-Request-ID"] == "trace-abc-12345"
        assert response.json()["error"]["request_id"] == "trace-abc-12345"

    def test_an_invalid_incoming_id_is_replaced(self) -> None:
        response = Client().get("/health", HTTP_X_REQUEST_ID="bad id\nwith newline")
        assert response["X-Request-ID"] != "bad id\nwith newline"
        assert len(response["X-Request-ID"]) == 32

    def test_pages_carry_an_id_too(self) -> None:
        assert Client().get("/login/")["X-Request-ID"]

    def test_log_lines_carry_the_request_id(self) -> None:
        import logging

        from apps.core.logging import RequestIdFilter

        seen: list[str] = []

        class Collect(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                seen.append(record.request_id)  # type: ignore[attr-defined]

        handler = Collect(level=logging.ERROR)
        handler.addFilter(RequestIdFilter())
        logging.getLogger().addHandler(handler)
        try:
            Client(raise_request_exception=False).get("/api/v1/_test/raise/crash", HTTP_X_REQUEST_ID="log-trace-0001")
        finally:
            logging.getLogger().removeHandler(handler)
        assert "log-trace-0001" in seen


class TestPagination:
    def test_default_page_is_50_with_links(self) -> None:
        body = Client().get("/api/v1/_test/items").json()
        assert body["count"] == 450
        assert len(body["results"]) == 50
        assert body["previous"] is None
        assert "limit=50" in body["next"] and "offset=50" in body["next"]

    def test_limit_above_200_is_treated_as_200(self) -> None:
        body = Client().get("/api/v1/_test/items?limit=1000").json()
        assert len(body["results"]) == 200

    def test_offset_moves_the_window(self) -> None:
        body = Client().get("/api/v1/_test/items?limit=10&offset=445").json()
        assert [item["n"] for item in body["results"]] == [445, 446, 447, 448, 449]
        assert body["next"] is None

    @pytest.mark.parametrize("query", ["limit=-1", "limit=abc", "offset=-5", "offset=1.5", "limit=2e3"])
    def test_bad_values_are_400(self, query: str) -> None:
        response = Client().get(f"/api/v1/_test/items?{query}")
        assert response.status_code == 400
        error = _envelope(response)
        assert error["code"] == "VALIDATION_ERROR"
        assert set(error["details"]) <= {"limit", "offset"}


class TestRateLimit:
    def test_headers_then_429_with_retry_after(self) -> None:
        client = Client()
        for remaining in (2, 1, 0):
            response = client.get("/api/v1/_test/limited?who=alice-rl")
            assert response.status_code == 200
            assert response["X-RateLimit-Limit"] == "3"
            assert response["X-RateLimit-Remaining"] == str(remaining)
            assert int(response["X-RateLimit-Reset"]) > 0
        response = client.get("/api/v1/_test/limited?who=alice-rl")
        assert response.status_code == 429
        assert _envelope(response)["code"] == "RATE_LIMITED"
        assert 1 <= int(response["Retry-After"]) <= 60
        assert response["X-RateLimit-Remaining"] == "0"
        # Another caller has their own budget.
        assert client.get("/api/v1/_test/limited?who=bob-rl").status_code == 200


def test_openapi_schema_documents_the_error_envelope() -> None:
    response = Client().get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert "ErrorEnvelope" in schema["components"]["schemas"]
    health = schema["paths"]["/api/v1/health"]["get"]
    assert health["responses"]["500"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorEnvelope")


def test_swagger_ui_is_served() -> None:
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_home_page_tells_an_admin_without_providers_how_to_add_one() -> None:
    from tests.factories import AdminUserFactory, UserFactory

    admin, plain = AdminUserFactory(), UserFactory()
    client = Client()
    client.force_login(admin)
    page = client.get("/").content.decode()
    assert 'data-testid="add-provider"' in page and "OPENAI_API_KEY" in page
    client.force_login(plain)
    assert 'data-testid="add-provider"' not in client.get("/").content.decode()
