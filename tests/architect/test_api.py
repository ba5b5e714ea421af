"""Tools API: create, validation with field details, sharing and BOLA, duplicate; execute input checks."""
from __future__ import annotations

import json
from typing import Any

import pytest

from apps.accounts.models import WorkspaceMember
from apps.architect.models import Execution, Tool
from apps.llm import services as llm_services
from tests.factories import UserFactory, WorkspaceFactory

from .conftest import chain_body, client_for, read_sse

pytestmark = pytest.mark.django_db(transaction=True)


def _create(client: Any, body: dict[str, Any]) -> Any:
    return client.post("/api/v1/architect/tools", body, format="json")


def test_create_and_read_a_tool(architect_user: Any, fake_models: Any) -> None:
    client = client_for(architect_user)
    answer = _create(client, chain_body())
    assert answer.status_code == 201, answer.content
    tool = answer.json()
    assert tool["name"] == "Chain" and tool["status"] == "published" and tool["can_edit"] is True
    assert [f["name"] for f in tool["input_fields"]] == ["topic"]
    assert [(p["name"], p["position"]) for p in tool["prompts"]] == [("greet", 1), ("farewell", 1), ("joined", 2)]
    assert tool["prompts"][0]["model_id"] == str(fake_models.models["openai"].id)
    assert tool["prompts"][0]["model_name"] == "fake-openai"
    listed = client.get("/api/v1/architect/tools").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == tool["id"]
    assert client.get(f"/api/v1/architect/tools/{tool['id']}").json()["prompts"][2]["system_prompt"] == "Be brief."


@pytest.mark.parametrize(
    ("change", "key", "text"),
    [
        ({"third": "{{nothing}}"}, "prompts[2].content", "not an input field or an earlier prompt"),
        ({"second": "{{greet}}"}, "prompts[1].content", "not earlier"),
        ({"first": "{{joined}}"}, "prompts[0].content", "not earlier"),
        ({"third": "{{prompt_1}}"}, "prompts[2].content", "2 prompts hold position 1"),
    ],
)
def test_reference_validation_has_field_details(architect_user: Any, change: dict[str, str], key: str, text: str) -> None:
    answer = _create(client_for(architect_user), chain_body(**change))
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert any(text in message for message in error["details"][key]), error["details"]
    assert Tool.objects.count() == 0


def test_duplicate_names_and_unknown_or_tier_models(architect_user: Any, fake_models: Any) -> None:
    client = client_for(architect_user)
    body = chain_body()
    body["prompts"][1]["name"] = "greet"
    body["prompts"][0]["model_id"] = "no-such-model"
    details = _create(client, body).json()["error"]["details"]
    assert "Duplicate name 'greet'" in details["prompts[1].name"][0]
    assert "does not exist" in details["prompts[0].model_id"][0]

    llm_services.model_create(name="fake-premium", provider=fake_models.providers["openai"], provider_model="fake-model",
                              capabilities=["chat"], input_cost=1, output_cost=1, context_window=2000, max_output_tokens=100,
                              tiers=["enterprise"])
    answer = _create(client, chain_body(model="fake-premium"))
    assert answer.status_code == 400
    assert "tier does not include the model 'fake-premium'" in answer.json()["error"]["details"]["prompts[0].model_id"][0]


def test_patch_revalidates_and_replaces_lists(architect_user: Any) -> None:
    client = client_for(architect_user)
    tool = _create(client, chain_body()).json()
    url = f"/api/v1/architect/tools/{tool['id']}"
    bad = client.patch(url, {"input_fields": []}, format="json")  # prompts still use {{topic}}
    assert bad.status_code == 400 and "prompts[0].content" in bad.json()["error"]["details"]
    good = client.patch(url, {"name": "Renamed", "prompts": [{"name": "only", "position": 1, "model_id": "fake-gemini",
                                                            "content": "{{topic}}"}]}, format="json")
    assert good.status_code == 200, good.content
    assert good.json()["name"] == "Renamed" and [p["name"] for p in good.json()["prompts"]] == ["only"]


def test_drafts_are_private_published_are_read_only_to_others(architect_user: Any) -> None:
    owner = client_for(architect_user)
    stranger = client_for(UserFactory())
    draft = _create(owner, chain_body(status="draft")).json()
    published = _create(owner, chain_body(name="Public")).json()
    for method, suffix in (("get", ""), ("patch", ""), ("delete", ""), ("post", "/duplicate")):
        answer = getattr(stranger, method)(f"/api/v1/architect/tools/{draft['id']}{suffix}", {}, format="json")
        assert answer.status_code == 404, (method, answer.content)
        assert answer.json()["error"]["code"] == "NOT_FOUND"
    assert [t["id"] for t in stranger.get("/api/v1/architect/tools").json()["results"]] == [published["id"]]
    assert stranger.get(f"/api/v1/architect/tools/{published['id']}").json()["can_edit"] is False
    assert stranger.patch(f"/api/v1/architect/tools/{published['id']}", {"name": "Mine"}, format="json").status_code == 403
    assert stranger.delete(f"/api/v1/architect/tools/{published['id']}").status_code == 403
    copy = stranger.post(f"/api/v1/architect/tools/{published['id']}/duplicate")
    assert copy.status_code == 201
    assert copy.json()["status"] == "draft" and copy.json()["can_edit"] is True and copy.json()["name"] == "Public (copy)"
    assert [p["name"] for p in copy.json()["prompts"]] == ["greet", "farewell", "joined"]
    # Executing another user's draft is a 404 too.
    answer = stranger.post("/api/v1/architect/execute", {"tool_id": draft["id"], "inputs": {"topic": "x"}}, format="json")
    assert answer.status_code == 404


def test_workspace_sharing(architect_user: Any) -> None:
    member, admin = UserFactory(), UserFactory()
    workspace = WorkspaceFactory(owner=architect_user)
    WorkspaceMember.objects.create(workspace=workspace, user=member, role="member")
    WorkspaceMember.objects.create(workspace=workspace, user=admin, role="admin")
    tool = _create(client_for(architect_user), {**chain_body(status="draft"), "workspace_id": str(workspace.pk)}).json()
    assert tool["workspace_id"] == str(workspace.pk)
    url = f"/api/v1/architect/tools/{tool['id']}"
    assert client_for(member).get(url).status_code == 200
    assert client_for(member).patch(url, {"name": "x"}, format="json").status_code == 403
    assert client_for(admin).patch(url, {"name": "By admin"}, format="json").status_code == 200
    assert client_for(UserFactory()).get(url).status_code == 404
    outsider = _create(client_for(UserFactory()), {**chain_body(), "workspace_id": str(workspace.pk)})
    assert outsider.status_code == 400 and "workspace_id" in outsider.json()["error"]["details"]


def test_execute_checks_inputs_before_anything_runs(architect_user: Any, fake_llm: Any) -> None:
    client = client_for(architect_user)
    tool = _create(client, {**chain_body(), "input_fields": [
        {"name": "topic", "type": "text", "required": True},
        {"name": "count", "type": "number", "required": False},
        {"name": "tone", "type": "select", "options": ["warm", "dry"], "required": False},
    ]}).json()

    def execute(inputs: Any) -> Any:
        return client.post("/api/v1/architect/execute", {"tool_id": tool["id"], "inputs": inputs}, format="json")

    too_big = execute({"topic": "x" * (100 * 1024 + 1)})
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    too_many = execute({f"f{i}": "x" for i in range(51)})
    assert too_many.status_code == 400 and "inputs" in too_many.json()["error"]["details"]
    details = execute({"count": "many", "tone": "loud", "extra": "?"}).json()["error"]["details"]
    assert details["inputs.topic"] == ["Required."]
    assert details["inputs.count"] == ["Must be a number."]
    assert "Must be one of warm, dry" in details["inputs.tone"][0]
    assert details["inputs.extra"] == ["This tool has no such input field."]
    assert execute("not an object").status_code == 400
    missing = client.post("/api/v1/architect/execute", {"inputs": {"topic": "x"}}, format="json")
    assert missing.status_code == 400 and missing.json()["error"]["details"] == {"tool_id": ["Required."]}
    unknown = client.post("/api/v1/architect/execute", {"tool_id": "00000000-0000-0000-0000-000000000000"}, format="json")
    assert unknown.status_code == 404
    assert Execution.objects.count() == 0 and fake_llm.log == []


def test_archived_and_empty_tools_cannot_run(architect_user: Any) -> None:
    client = client_for(architect_user)
    tool = _create(client, chain_body(status="archived")).json()
    answer = client.post("/api/v1/architect/execute", {"tool_id": tool["id"], "inputs": {"topic": "x"}}, format="json")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "CONFLICT"
    empty = _create(client, {"name": "Empty", "status": "draft"}).json()
    answer = client.post("/api/v1/architect/execute", {"tool_id": empty["id"], "inputs": {}}, format="json")
    assert answer.status_code == 409


def test_executions_are_private(architect_user: Any) -> None:
    client = client_for(architect_user)
    tool = _create(client, chain_body()).json()
    answer = client.post("/api/v1/architect/execute", {"tool_id": tool["id"], "inputs": {"topic": "cats"}}, format="json")
    assert answer.status_code == 200
    execution_id = answer["X-Execution-Id"]
    assert read_sse(answer)[-1]["event"] == "execution_complete"  # eager in-process: the chain already ran
    stranger = client_for(UserFactory())
    for method, suffix in (("get", ""), ("get", "/events"), ("post", "/cancel")):
        got = getattr(stranger, method)(f"/api/v1/architect/executions/{execution_id}{suffix}")
        assert got.status_code == 404, (suffix, got.status_code)
    assert stranger.get("/api/v1/architect/executions").json()["count"] == 0
    mine = client.get("/api/v1/architect/executions").json()
    assert mine["count"] == 1 and mine["results"][0]["status"] == "completed"
    assert json.loads(json.dumps(mine))["results"][0]["id"] == execution_id


def test_key_scopes_and_the_tool_role_guard_every_route(architect_user: Any) -> None:
    from rest_framework.test import APIClient

    from apps.accounts import services as account_services
    from apps.accounts.models import UserRole

    _key, chat_only = account_services.api_key_create(user=architect_user, name="chat", scopes=["chat"])
    _key, architect_key = account_services.api_key_create(user=architect_user, name="arch", scopes=["architect"])
    client = APIClient()
    assert client.get("/api/v1/architect/tools", HTTP_AUTHORIZATION=f"Bearer {chat_only}").status_code == 403
    assert client.get("/api/v1/architect/tools", HTTP_AUTHORIZATION=f"Bearer {architect_key}").status_code == 200
    assert client.get("/api/v1/architect/executions", HTTP_AUTHORIZATION=f"Bearer {architect_key}").status_code == 200
    # Without a role granting `assistant-architect`, every route is 403.
    UserRole.objects.filter(user=architect_user).delete()
    architect_user.refresh_from_db()
    answer = client_for(architect_user).get("/api/v1/architect/tools")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "FORBIDDEN"
