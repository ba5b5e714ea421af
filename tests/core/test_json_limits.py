"""JSON bodies are bounded in size and depth before they are parsed: 400/413, never a 500."""
from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client, override_settings

from apps.core.parsers import json_depth_exceeds

pytestmark = pytest.mark.django_db


def _nested(levels: int) -> str:
    return '{"email": "deep@example.com", "password": "x", "first_name": ' + "[" * levels + "]" * levels + "}"


@pytest.mark.parametrize("levels", [200, 5000, 100_000])
def test_deeply_nested_signup_is_a_400_envelope(levels: int) -> None:
    response = Client().post("/api/v1/auth/signup", _nested(levels), content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "nested deeper" in error["message"]


def test_oversize_json_is_a_413_envelope() -> None:
    body = json.dumps({"email": "big@example.com", "password": "x" * 2048})
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024):
        response = Client().post("/api/v1/auth/login", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_malformed_json_is_a_400_envelope() -> None:
    response = Client().post("/api/v1/auth/login", '{"email": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_brackets_inside_strings_do_not_count_toward_depth() -> None:
    text = json.dumps({"a": "[" * 1000 + '\\"{' * 500, "b": [[1, 2], {"c": "]]]"}]}).encode()
    assert not json_depth_exceeds(text, 5)
    assert json_depth_exceeds(b'{"a": [[[[[[1]]]]]]}', 5)
    assert not json_depth_exceeds(b'{"a": [[[[1]]]]}', 5)


def test_ordinary_body_still_reaches_the_view() -> None:
    response = Client().post(
        "/api/v1/auth/signup",
        json.dumps({"email": "plain@example.com", "password": "correct horse battery staple 42"}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content


def test_a_form_body_with_too_many_fields_is_a_400_envelope_not_a_500(django_user_model: Any) -> None:
    from tests.accounts.conftest import key_client
    from tests.factories import UserFactory

    client, _raw = key_client(UserFactory())
    many = "&".join(f"f{i}=1" for i in range(1200))
    for path in ("/api/v1/folders", "/api/v1/auth/logout"):
        response = client.generic("POST", path, many, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 400, (path, response.content)
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
