"""Workflow definitions: validation on save, versions, duplicate, the trigger secret shown once, and BOLA."""
from __future__ import annotations

import pytest

from apps.workflows.models import Run, Workflow, WorkflowVersion
from tests.factories import UserFactory, WorkspaceFactory

from .conftest import client_for, condition, create, llm

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():  # type: ignore[no-untyped-def]
    return UserFactory()


def test_create_answers_the_trigger_secret_once_and_stores_it_encrypted(owner) -> None:  # type: ignore[no-untyped-def]
    client = client_for(owner)
    response = create(client, [condition("gate", "input.n > 1")], max_cost="5")
    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["trigger_secret"]
    assert secret.startswith("whs_") and len(secret) > 30
    assert body["version"] == 1 and body["max_cost"] == 5.0
    assert body["steps"] == [{"name": "gate", "kind": "condition", "config": {"expression": "input.n > 1"}, "depends_on": [],
                              "timeout": 60, "retry_policy": {"max_retries": 0, "backoff_ms": 1000}}]
    stored = Workflow.objects.get(pk=body["id"])
    assert secret not in stored.trigger_secret_encrypted
    shown = client.get(f"/api/v1/workflows/{body['id']}").json()
    assert "trigger_secret" not in shown and shown["recent_runs"] == []
    listed = client.get("/api/v1/workflows").json()
    assert listed["count"] == 1 and "trigger_secret" not in listed["results"][0]
    rotated = client.post(f"/api/v1/workflows/{body['id']}/trigger-secret").json()["trigger_secret"]
    assert rotated.startswith("whs_") and rotated != secret


@pytest.mark.parametrize(("steps", "field"), [
    ([], "steps"),
    ([condition(f"s{i}", "true") for i in range(21)], "steps"),
    ([condition("a", "true"), condition("a", "true")], "steps.1.name"),
    ([condition("a", "true", [0])], "steps.0.depends_on"),
    ([condition("a", "true"), condition("b", "true", [2])], "steps.1.depends_on"),
    ([condition("a", "true", [-1])], "steps.0.depends_on"),
    ([{"name": "a", "kind": "teleport", "config": {}}], "steps.0.kind"),
    ([{"name": "a", "kind": "llm", "config": {"prompt": "hi"}}], "steps.0.config"),
    ([{"name": "a", "kind": "llm", "config": {"model_id": "m", "prompt": "hi", "temperature": 9}}], "steps.0.config.temperature"),
    ([condition("a", "input.n >")], "steps.0.config.expression"),
    ([condition("a", "true", retry_policy={"max_retries": 99})], "steps.0.retry_policy.max_retries"),
    ([condition("a", "true", timeout=0)], "steps.0.timeout"),
    ([llm("a", "Say {{steps.b.output}}", "m"), condition("b", "true")], "steps.0.config.prompt"),
    ([condition("a", "true"), condition("b", "true"), llm("c", "{{steps.a.output}}", "m", [1])], "steps.2.config.prompt"),
    ([{"name": "bad name!", "kind": "condition", "config": {"expression": "true"}}], "steps.0.name"),
    ("not a list", "steps"),
])
def test_invalid_definitions_answer_400_with_field_details(owner, steps, field) -> None:  # type: ignore[no-untyped-def]
    response = create(client_for(owner), steps)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"], error["details"]
    assert not Workflow.objects.exists()


def test_references_to_dependencies_and_input_are_accepted(owner) -> None:  # type: ignore[no-untyped-def]
    steps = [condition("a", "true"), llm("b", "About {{input.topic}} after {{steps.a.output}}", "m", [0]),
             llm("c", "{{steps.a.output}} / {{steps.b.output}}", "m", [1])]
    assert create(client_for(owner), steps).status_code == 201


def test_a_change_of_steps_makes_a_new_version_and_duplicate_copies(owner) -> None:  # type: ignore[no-untyped-def]
    client = client_for(owner)
    created = create(client, [condition("a", "true")]).json()
    renamed = client.patch(f"/api/v1/workflows/{created['id']}", {"name": "Renamed"}, format="json").json()
    assert renamed["name"] == "Renamed" and renamed["version"] == 1
    changed = client.patch(f"/api/v1/workflows/{created['id']}",
                           {"steps": [condition("a", "true"), condition("b", "false", [0])]}, format="json")
    assert changed.status_code == 200 and changed.json()["version"] == 2
    assert list(WorkflowVersion.objects.filter(workflow_id=created["id"]).values_list("version", flat=True)) == [2, 1]
    bad = client.patch(f"/api/v1/workflows/{created['id']}", {"steps": [condition("a", "true", [0])]}, format="json")
    assert bad.status_code == 400 and Workflow.objects.get(pk=created["id"]).version == 2
    copy = client.post(f"/api/v1/workflows/{created['id']}/duplicate")
    assert copy.status_code == 201
    body = copy.json()
    assert body["id"] != created["id"] and body["version"] == 1 and len(body["steps"]) == 2 and body["trigger_secret"]


def test_other_users_get_404_on_workflows_and_runs(owner) -> None:  # type: ignore[no-untyped-def]
    workflow_id = create(client_for(owner), [condition("a", "true")]).json()["id"]
    workflow = Workflow.objects.get(pk=workflow_id)
    run = Run.objects.create(workflow=workflow, user=owner, version=1, steps=workflow.steps)
    stranger = client_for(UserFactory())
    for method, path in [("get", f"/api/v1/workflows/{workflow_id}"), ("patch", f"/api/v1/workflows/{workflow_id}"),
                         ("delete", f"/api/v1/workflows/{workflow_id}"), ("post", f"/api/v1/workflows/{workflow_id}/duplicate"),
                         ("post", f"/api/v1/workflows/{workflow_id}/execute"), ("get", f"/api/v1/workflows/{workflow_id}/runs"),
                         ("post", f"/api/v1/workflows/{workflow_id}/trigger-secret"), ("get", f"/api/v1/runs/{run.pk}"),
                         ("get", f"/api/v1/runs/{run.pk}/events"), ("post", f"/api/v1/runs/{run.pk}/cancel"),
                         ("post", f"/api/v1/runs/{run.pk}/resume")]:
        response = getattr(stranger, method)(path, {}, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
        assert response.json()["error"]["code"] == "NOT_FOUND"
    assert stranger.get("/api/v1/workflows").json()["count"] == 0
    assert Workflow.objects.filter(pk=workflow_id).exists()


def test_workspace_members_see_and_only_writers_change(owner) -> None:  # type: ignore[no-untyped-def]
    from apps.accounts.models import WorkspaceMember

    workspace = WorkspaceFactory(owner=owner)
    member, admin = UserFactory(), UserFactory()
    WorkspaceMember.objects.create(workspace=workspace, user=member, role="member")
    WorkspaceMember.objects.create(workspace=workspace, user=admin, role="admin")
    created = create(client_for(owner), [condition("a", "true")], workspace_id=str(workspace.pk)).json()
    assert client_for(member).get(f"/api/v1/workflows/{created['id']}").status_code == 200
    assert client_for(member).patch(f"/api/v1/workflows/{created['id']}", {"name": "x"}, format="json").status_code == 403
    assert client_for(admin).patch(f"/api/v1/workflows/{created['id']}", {"name": "x"}, format="json").status_code == 200
    other = WorkspaceFactory()
    refused = create(client_for(owner), [condition("a", "true")], workspace_id=str(other.pk))
    assert refused.status_code == 400 and "workspace_id" in refused.json()["error"]["details"]
