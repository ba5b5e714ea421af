"""A number where the schema says string is a 400, not a silent conversion (`{"name": 0}` is not `"0"`)."""
from __future__ import annotations

from typing import Any

import pytest

from tests.accounts.conftest import key_client
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/folders", {"name": 0}, "name"),
    ("/api/v1/conversations", {"title": 12}, "title"),
    ("/api/v1/knowledge", {"name": 3.5}, "name"),
    ("/api/v1/workspaces", {"name": True}, "name"),
    ("/api/v1/keys", {"name": ["a"]}, "name"),
])
def test_a_non_string_for_a_string_field_is_a_400_naming_the_field(path: str, body: dict[str, Any], field: str) -> None:
    client, _raw = key_client(UserFactory())
    response = client.post(path, body, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and field in error["details"]


def test_strings_are_still_accepted() -> None:
    client, _raw = key_client(UserFactory())
    assert client.post("/api/v1/folders", {"name": "0"}, format="json").status_code == 201
