"""The webhook trigger: signature (good, wrong, stale, replayed), ?token=, Idempotency-Key, and other users' hooks."""
from __future__ import annotations

import json
import time

import pytest
from rest_framework.test import APIClient

from apps.workflows.hooks import signature_header
from apps.workflows.models import Run
from tests.factories import UserFactory

from .conftest import client_for, condition, create

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(settings):  # type: ignore[no-untyped-def]
    # The scheduler is not under test here: a run is created and left pending.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    owner = UserFactory()
    body = create(client_for(owner), [condition("gate", "true")]).json()
    return owner, body["id"], body["trigger_secret"]


def _post(workflow_id: str, payload: bytes, **headers: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = APIClient().post(f"/api/v1/hooks/{workflow_id}", payload, content_type="application/json",
                                **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})
    return response.status_code, response.json()


def test_a_good_signature_starts_a_run_as_the_owner_with_the_body_as_input(hook, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    owner, workflow_id, secret = hook
    payload = json.dumps({"order": 42}).encode()
    with django_capture_on_commit_callbacks(execute=False):
        status, body = _post(workflow_id, payload, **{"X-Nexus-Signature": signature_header(secret=secret, body=payload)})
    assert status == 202 and body["success"] is True
    run = Run.objects.get(pk=body["execution_id"])
    assert run.user == owner and run.trigger == "webhook" and run.input == {"order": 42}


def test_missing_wrong_and_stale_signatures_are_refused(hook) -> None:  # type: ignore[no-untyped-def]
    _owner, workflow_id, secret = hook
    payload = b'{"a": 1}'
    assert _post(workflow_id, payload)[0] == 401
    wrong = signature_header(secret="whs_not-the-secret", body=payload)
    assert _post(workflow_id, payload, **{"X-Nexus-Signature": wrong})[0] == 403
    tampered = signature_header(secret=secret, body=b'{"a": 2}')
    assert _post(workflow_id, payload, **{"X-Nexus-Signature": tampered})[0] == 403
    stale = signature_header(secret=secret, body=payload, timestamp=int(time.time()) - 301)
    status, body = _post(workflow_id, payload, **{"X-Nexus-Signature": stale})
    assert status == 403 and body["error"]["code"] == "FORBIDDEN"
    assert _post(workflow_id, payload, **{"X-Nexus-Signature": "garbage"})[0] == 403
    assert not Run.objects.exists()


def test_token_query_parameter_and_rotation(hook, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    owner, workflow_id, secret = hook
    with django_capture_on_commit_callbacks(execute=False):
        response = APIClient().get(f"/api/v1/hooks/{workflow_id}?token={secret}&city=Oslo")
    assert response.status_code == 202
    assert Run.objects.get(pk=response.json()["execution_id"]).input == {"city": "Oslo"}
    assert APIClient().get(f"/api/v1/hooks/{workflow_id}?token=whs_wrong").status_code == 403
    client_for(owner).post(f"/api/v1/workflows/{workflow_id}/trigger-secret")
    assert APIClient().get(f"/api/v1/hooks/{workflow_id}?token={secret}").status_code == 403


def test_a_replayed_idempotency_key_answers_the_first_run(hook, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    _owner, workflow_id, secret = hook
    payload = b'{"n": 1}'
    with django_capture_on_commit_callbacks(execute=False):
        first = _post(workflow_id, payload, **{"X-Nexus-Signature": signature_header(secret=secret, body=payload),
                                               "Idempotency-Key": "delivery-1"})
        again = _post(workflow_id, payload, **{"X-Nexus-Signature": signature_header(secret=secret, body=payload),
                                               "Idempotency-Key": "delivery-1"})
        other = _post(workflow_id, payload, **{"X-Nexus-Signature": signature_header(secret=secret, body=payload),
                                               "Idempotency-Key": "delivery-2"})
    assert first[0] == 202 and again[0] == 200 and other[0] == 202
    assert again[1]["execution_id"] == first[1]["execution_id"] != other[1]["execution_id"]
    assert Run.objects.count() == 2


def test_another_workflows_secret_or_an_unknown_workflow_starts_nothing(hook) -> None:  # type: ignore[no-untyped-def]
    _owner, workflow_id, _secret = hook
    stranger = UserFactory()
    other_secret = create(client_for(stranger), [condition("x", "true")]).json()["trigger_secret"]
    payload = b"{}"
    assert _post(workflow_id, payload, **{"X-Nexus-Signature": signature_header(secret=other_secret, body=payload)})[0] == 403
    assert APIClient().get(f"/api/v1/hooks/{workflow_id}?token={other_secret}").status_code == 403
    assert APIClient().get(f"/api/v1/hooks/00000000-0000-0000-0000-000000000000?token={other_secret}").status_code == 404
    assert APIClient().get(f"/api/v1/hooks/not-a-uuid?token={other_secret}").status_code == 404
    assert not Run.objects.filter(workflow_id=workflow_id).exists()
