"""Connections over the API: secrets go in and never come out, stored encrypted, scoped to their owner."""
from __future__ import annotations

import pytest
from django.db import connection as db

from apps.accounts import services as accounts
from apps.integrations.models import Connection

pytestmark = pytest.mark.django_db

TOKEN = "xoxb-123456789012-abcdefghijklmnop"


def _create(client, **body):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/connections", {"kind": "slack", "name": "Team Slack", "secret": TOKEN, **body}, format="json")


def test_create_and_list_never_return_the_secret(auth_client) -> None:  # type: ignore[no-untyped-def]
    response = _create(auth_client)
    assert response.status_code == 201, response.content
    assert TOKEN not in response.content.decode()
    assert set(response.json()) == {"id", "kind", "name", "secret_set", "created_at"}
    assert response.json()["secret_set"] is True and response.json()["kind"] == "slack"

    listed = auth_client.get("/api/v1/connections")
    assert listed.status_code == 200
    assert TOKEN not in listed.content.decode()
    assert [item["name"] for item in listed.json()["results"]] == ["Team Slack"]


def test_secret_is_encrypted_at_rest(auth_client) -> None:  # type: ignore[no-untyped-def]
    created = _create(auth_client).json()
    with db.cursor() as cursor:
        cursor.execute("SELECT secret_encrypted FROM integrations_connection WHERE id = %s", [created["id"]])
        stored = cursor.fetchone()[0]
    assert stored and TOKEN not in stored
    from apps.llm.crypto import decrypt_secret
    assert decrypt_secret(stored) == TOKEN


def test_other_users_connections_are_invisible(auth_client, other_user) -> None:  # type: ignore[no-untyped-def]
    created = _create(auth_client).json()
    from rest_framework.test import APIClient
    other = APIClient()
    other.force_authenticate(user=other_user)
    assert other.get("/api/v1/connections").json()["count"] == 0
    refused = other.delete(f"/api/v1/connections/{created['id']}")
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "NOT_FOUND"
    assert Connection.objects.filter(pk=created["id"]).exists()


def test_delete_removes_it(auth_client) -> None:  # type: ignore[no-untyped-def]
    created = _create(auth_client).json()
    assert auth_client.delete(f"/api/v1/connections/{created['id']}").status_code == 204
    assert auth_client.get("/api/v1/connections").json()["count"] == 0
    assert auth_client.delete(f"/api/v1/connections/{created['id']}").status_code == 404


def test_unknown_kind_and_bad_secrets_are_400(auth_client) -> None:  # type: ignore[no-untyped-def]
    unknown = _create(auth_client, kind="discord")
    assert unknown.status_code == 400 and "kind" in unknown.json()["error"]["details"]
    not_a_token = _create(auth_client, secret="hunter2")
    assert not_a_token.status_code == 400 and "secret" in not_a_token.json()["error"]["details"]
    email_with_secret = auth_client.post("/api/v1/connections", {"kind": "email", "name": "Mail", "secret": "x"}, format="json")
    assert email_with_secret.status_code == 400
    email = auth_client.post("/api/v1/connections", {"kind": "email", "name": "Mail"}, format="json")
    assert email.status_code == 201 and email.json()["secret_set"] is False


def test_second_connection_of_a_kind_is_409(auth_client) -> None:  # type: ignore[no-untyped-def]
    assert _create(auth_client).status_code == 201
    again = _create(auth_client, name="Other")
    assert again.status_code == 409 and again.json()["error"]["code"] == "CONFLICT"


def test_narrow_api_key_cannot_manage_connections(user, api_client) -> None:  # type: ignore[no-untyped-def]
    _key, raw = accounts.api_key_create(user=user, name="chat only", scopes=["chat"])
    refused = api_client.get("/api/v1/connections", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert refused.status_code == 403
    _key, full = accounts.api_key_create(user=user, name="full", scopes=["*"])
    assert api_client.get("/api/v1/connections", HTTP_AUTHORIZATION=f"Bearer {full}").status_code == 200
