"""Nothing secret in logs: passwords, JWTs and API keys are masked before a record is written."""
from __future__ import annotations

import io
import logging

import pytest
from rest_framework.test import APIClient

from apps.accounts import services
from apps.core.logging import RequestIdFilter

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_output():  # type: ignore[no-untyped-def]
    """Everything logged during the test, through the same filter the console handler uses."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_secrets_in_log_messages_are_masked(user, log_output):
    pair = services.token_pair_issue(user=user)
    _key, raw = services.api_key_create(user=user, name="k", scopes=["*"])
    logger = logging.getLogger("nexus.test")
    logger.warning("body %s", {"email": user.email, "password": "hunter2-secret", "refresh_token": pair["refresh_token"]})
    logger.warning("headers Authorization: Bearer %s x-api-key: %s", pair["access_token"], raw)
    logger.warning("bare token %s in a query ?token=%s", pair["refresh_token"], raw)
    text = log_output.getvalue()
    for secret in ("hunter2-secret", pair["refresh_token"], pair["access_token"], raw, raw[4:]):
        assert secret not in text
    assert user.email in text  # only secrets are masked


def test_auth_traffic_leaves_no_secret_in_the_logs(user, log_output):
    client = APIClient()
    client.post("/api/v1/auth/login", {"email": user.email, "password": "wrong-password-secret"}, format="json")
    client.post("/api/v1/auth/signup", {"email": "n@example.com", "password": "weak"}, format="json")
    pair = client.post("/api/v1/auth/login", {"email": user.email, "password": "correct-horse-battery"}, format="json").json()
    client.post("/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}, format="json")
    client.post("/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}, format="json")  # reuse: 401, logged
    _key, raw = services.api_key_create(user=user, name="k", scopes=["chat"])
    bad = APIClient()
    bad.credentials(HTTP_X_API_KEY=raw)
    bad.get("/api/v1/keys")  # 403, logged by Django
    bad.credentials(HTTP_X_API_KEY=raw + "tampered")
    bad.get("/api/v1/users/me")  # 401, logged by Django
    text = log_output.getvalue()
    assert "Unauthorized" in text or "Forbidden" in text  # the requests were logged
    for secret in ("wrong-password-secret", "correct-horse-battery", pair["refresh_token"], pair["access_token"], raw[4:]):
        assert secret not in text
