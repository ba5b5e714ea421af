"""Platform tools over HTTP: listing by roles and scopes, argument checks, BOLA, the outbound guard."""
from __future__ import annotations

import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import Role
from apps.workflows.models import Run
from tests.factories import UserFactory

from .conftest import key_client, knowledge_repository

pytestmark = pytest.mark.django_db

ALL_TOOLS = {"search_knowledge", "run_architect_tool", "run_workflow", "call_agent", "fetch_url"}


def _client(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def _call(client: APIClient, name: str, arguments: Any) -> Any:
    return client.post(f"/api/v1/tools/{name}", {"arguments": arguments}, format="json")


def test_list_shows_the_tools_the_roles_and_the_key_scopes_cover() -> None:
    user = UserFactory()
    listed = _client(user).get("/api/v1/tools")
    assert listed.status_code == 200
    body = listed.json()
    assert {tool["name"] for tool in body["results"]} == ALL_TOOLS and body["count"] == 5
    search = next(tool for tool in body["results"] if tool["name"] == "search_knowledge")
    assert search["parameters"]["type"] == "object" and search["parameters"]["required"] == ["query"]
    assert search["description"]
    only_knowledge = key_client(user, ["knowledge"]).get("/api/v1/tools").json()
    assert [tool["name"] for tool in only_knowledge["results"]] == ["search_knowledge"]
    chat_and_agents = key_client(user, ["chat", "agents"]).get("/api/v1/tools").json()
    assert {tool["name"] for tool in chat_and_agents["results"]} == {"fetch_url", "call_agent"}


def test_a_role_without_the_feature_hides_its_tool_and_its_route_is_403() -> None:
    user = UserFactory()
    chat_only = Role.objects.create(name="chat-only", tools=["chat"])
    user.roles.set([chat_only])
    client = _client(user)
    assert [tool["name"] for tool in client.get("/api/v1/tools").json()["results"]] == ["fetch_url"]
    answer = _call(client, "search_knowledge", {"query": "vacation"})
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "FORBIDDEN"


def test_search_knowledge_answers_passages_of_the_callers_repositories() -> None:
    user = UserFactory()
    repository = knowledge_repository(user)
    answer = _call(_client(user), "search_knowledge", {"query": "How many vacation days?", "repository_ids": [str(repository.pk)]})
    assert answer.status_code == 200, answer.content
    results = answer.json()["result"]["results"]
    assert results[0]["content"] == "Employees get 25 days of paid vacation per year."
    assert results[0]["marker"] == 1 and results[0]["repository_id"] == str(repository.pk)
    assert {"document_id", "chunk_id", "filename", "score"} <= set(results[0])


def test_bad_arguments_are_400_with_field_details() -> None:
    client = _client(UserFactory())
    missing = _call(client, "search_knowledge", {})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "VALIDATION_ERROR" and "query" in missing.json()["error"]["details"]
    wrong = _call(client, "search_knowledge", {"query": "x", "limit": 500, "colour": "red"})
    details = wrong.json()["error"]["details"]
    assert wrong.status_code == 400 and set(details) == {"limit", "colour"}
    not_an_object = _call(client, "run_workflow", ["a"])
    assert not_an_object.status_code == 400 and "arguments" in not_an_object.json()["error"]["details"]
    bad_id = _call(client, "run_workflow", {"workflow_id": "nope"})
    assert bad_id.status_code == 400 and "workflow_id" in bad_id.json()["error"]["details"]


def test_unknown_tool_is_404() -> None:
    answer = _call(_client(UserFactory()), "format_disk", {})
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "NOT_FOUND"


def test_a_key_whose_scopes_do_not_cover_the_tool_is_403() -> None:
    user = UserFactory()
    knowledge_repository(user)
    client = key_client(user, ["chat"])
    answer = _call(client, "search_knowledge", {"query": "vacation"})
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "FORBIDDEN"
    assert answer.json()["error"]["details"] == {"required_scope": ["knowledge"]}
    assert _call(key_client(user, ["knowledge"]), "search_knowledge", {"query": "vacation"}).status_code == 200


def test_bola_another_users_repository_tool_workflow_and_agent_are_404(settings) -> None:  # type: ignore[no-untyped-def]
    from apps.agents import services as agents
    from apps.architect import services as architect
    from apps.workflows import services as workflows

    settings.ALLOWED_PRIVATE_NETWORKS = ["127.0.0.1/32"]  # the agent's endpoint is on loopback
    alice, bob = UserFactory(), UserFactory()
    repository = knowledge_repository(alice, name="alice-secrets")
    chain = architect.tool_create(user=alice, name="Alice's draft chain", status="draft", input_fields=[], prompts=[])
    workflow, _secret = workflows.workflow_create(user=alice, name="Alice's flow",
                                         steps=[{"name": "gate", "kind": "condition", "config": {"expression": "true"}}])
    agent = agents.agent_create(user=alice, data={"name": "Alice's private agent", "description": "Private helper agent.",
                                                  "endpoint": "http://127.0.0.1:9/a2a", "visibility": "private"})
    client = _client(bob)
    calls = [
        ("search_knowledge", {"query": "secrets", "repository_ids": [str(repository.pk)]}),
        ("run_architect_tool", {"tool_id": str(chain.pk), "inputs": {"topic": "x"}}),
        ("run_workflow", {"workflow_id": str(workflow.pk)}),
        ("call_agent", {"agent_id": str(agent.pk), "input": "hello"}),
        ("run_workflow", {"workflow_id": str(uuid.uuid4())}),
    ]
    for name, arguments in calls:
        answer = _call(client, name, arguments)
        assert answer.status_code == 404, (name, answer.content)
        assert answer.json()["error"]["code"] == "NOT_FOUND"
        assert "alice" not in answer.content.decode().lower()
    assert not Run.objects.exists()


def test_run_workflow_answers_the_run_id_and_status_after_the_wait(settings) -> None:  # type: ignore[no-untyped-def]
    from apps.workflows import services as workflows

    settings.TOOLS_WAIT_SECONDS = 0.3
    user = UserFactory()
    workflow, _secret = workflows.workflow_create(user=user, name="Flow", steps=[{"name": "gate", "kind": "condition",
                                                                          "config": {"expression": "true"}}])
    answer = _call(_client(user), "run_workflow", {"workflow_id": str(workflow.pk), "input": {"n": 2}})
    assert answer.status_code == 200, answer.content
    result = answer.json()["result"]
    run = Run.objects.get(pk=result["run_id"])
    assert run.user == user and run.input == {"n": 2}
    assert result["status"] == run.status


def test_fetch_url_to_a_private_address_is_refused_by_the_guard(web_page: str) -> None:
    client = _client(UserFactory())
    for url in (web_page + "/", "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://2130706433/"):
        answer = _call(client, "fetch_url", {"url": url})
        assert answer.status_code == 400, (url, answer.content)
        assert answer.json()["error"]["code"] == "VALIDATION_ERROR" and "url" in answer.json()["error"]["details"]
    assert _call(client, "fetch_url", {"url": "file:///etc/passwd"}).status_code == 400


def test_fetch_url_answers_the_text_at_most_1_mb(settings, web_page: str) -> None:  # type: ignore[no-untyped-def]
    settings.ALLOWED_PRIVATE_NETWORKS = ["127.0.0.1/32"]  # the loopback page stands in for a public one
    client = _client(UserFactory())
    page = _call(client, "fetch_url", {"url": web_page + "/"}).json()["result"]
    assert "Opening hours: 9 to 5." in page["text"] and page["status"] == 200 and page["truncated"] is False
    assert page["content_type"].startswith("text/html")
    big = _call(client, "fetch_url", {"url": web_page + "/big"}).json()["result"]
    assert len(big["text"]) == 1024 * 1024 and big["truncated"] is True


def test_fetch_url_refuses_a_redirect_to_a_private_address(settings, web_page: str) -> None:  # type: ignore[no-untyped-def]
    settings.ALLOWED_PRIVATE_NETWORKS = ["127.0.0.1/32"]  # the first hop is allowed, the one it redirects to is not
    answer = _call(_client(UserFactory()), "fetch_url", {"url": web_page + "/to-private"})
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR" and "url" in answer.json()["error"]["details"]


def test_fetch_url_runs_from_a_worker_thread_of_an_event_loop(settings, web_page: str) -> None:  # type: ignore[no-untyped-def]
    """Chat runs its tools on an executor thread of the reply's event loop: the fetch works there too."""
    import asyncio

    from apps.core.db import db_sync_to_async
    from apps.tools.registry import FetchUrl, ToolContext

    settings.ALLOWED_PRIVATE_NETWORKS = ["127.0.0.1/32"]
    context = ToolContext(user=UserFactory())

    def fetch() -> dict[str, Any]:
        # `run` itself: that thread's database connection cannot see this test's uncommitted user.
        return FetchUrl().run(context=context, arguments={"url": web_page + "/"})

    page = asyncio.run(db_sync_to_async(fetch)())
    assert "Opening hours: 9 to 5." in page["text"] and page["status"] == 200 and page["truncated"] is False
