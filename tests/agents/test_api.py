"""Agents registry API: CRUD, visibility and sharing, discovery, heartbeats, agent keys, and BOLA."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.agents import services
from apps.agents.models import Agent
from tests.factories import UserFactory, WorkspaceFactory

from .conftest import agent_body, client_for

pytestmark = pytest.mark.django_db


def _register(client: APIClient, endpoint: str, **overrides: Any) -> dict[str, Any]:
    answer = client.post("/api/v1/agents", agent_body(endpoint, **overrides), format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()


def test_register_read_update_delete(user: Any, fake_agent: Any) -> None:
    client = client_for(user)
    agent = _register(client, fake_agent.url)
    assert agent["visibility"] == "public" and agent["status"] == "offline" and agent["is_owner"] is True
    assert [s["id"] for s in agent["skills"]] == ["summarize", "translate"]
    assert agent["skills"][0]["input_schema"]["required"] == ["text"]
    assert agent["price_per_task"] == "5.0000"
    assert client.get(f"/api/v1/agents/{agent['id']}").json()["name"] == "Summarizer"
    changed = client.patch(f"/api/v1/agents/{agent['id']}", {"name": "Shorter", "skills": [{"id": "only", "name": "Limerick", "tags": ["haiku"]}]},
                           format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["name"] == "Shorter" and [s["id"] for s in changed.json()["skills"]] == ["only"]
    # Discovery follows the new skills at once (tags and text), and forgets the old ones.
    assert [a["id"] for a in client.get("/api/v1/discover?skill_tags=haiku").json()["results"]] == [agent["id"]]
    assert client.get("/api/v1/discover?skill_tags=summary").json()["count"] == 0
    assert [a["id"] for a in client.get("/api/v1/discover?q=limericks").json()["results"]] == [agent["id"]]
    assert client.delete(f"/api/v1/agents/{agent['id']}").status_code == 204
    assert client.get(f"/api/v1/agents/{agent['id']}").status_code == 404


def test_bad_definitions_answer_400_naming_the_field(user: Any, fake_agent: Any) -> None:
    client = client_for(user)
    bad_schema = agent_body(fake_agent.url, skills=[{"id": "s", "name": "S", "input_schema": {"type": "no-such-type"}}])
    answer = client.post("/api/v1/agents", bad_schema, format="json")
    assert answer.status_code == 400
    assert "skills[0].input_schema" in answer.json()["error"]["details"]
    duplicate = agent_body(fake_agent.url, skills=[{"id": "s"}, {"id": "s"}])
    assert "skills[1].id" in client.post("/api/v1/agents", duplicate, format="json").json()["error"]["details"]
    assert client.post("/api/v1/agents", agent_body(fake_agent.url, price_per_task="-1"), format="json").status_code == 400
    missing = client.post("/api/v1/agents", {"endpoint": fake_agent.url}, format="json")
    assert missing.status_code == 400 and "name" in missing.json()["error"]["details"]


@pytest.mark.parametrize("endpoint", ["http://169.254.169.254/latest", "http://10.0.0.1/", "file:///etc/passwd", "http://2130706433/",
                                      "http://user@example.com/", "http://[::ffff:127.0.0.1]/"])
def test_endpoints_outside_the_outbound_rule_answer_400_naming_endpoint(user: Any, endpoint: str, settings: Any) -> None:
    settings.ALLOWED_PRIVATE_NETWORKS = []
    answer = client_for(user).post("/api/v1/agents", agent_body(endpoint), format="json")
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR"
    assert list(answer.json()["error"]["details"]) == ["endpoint"]


def test_loopback_endpoint_is_refused_unless_allowed(user: Any, fake_agent_server: Any, settings: Any) -> None:
    settings.ALLOWED_PRIVATE_NETWORKS = []
    assert client_for(user).post("/api/v1/agents", agent_body(fake_agent_server.url), format="json").status_code == 400
    settings.ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    assert client_for(user).post("/api/v1/agents", agent_body(fake_agent_server.url), format="json").status_code == 201


def test_import_from_an_agent_card(user: Any, fake_agent: Any) -> None:
    answer = client_for(user).post("/api/v1/agents", {"card_url": fake_agent.card_url, "price_per_task": "2"}, format="json")
    assert answer.status_code == 201, answer.content
    agent = answer.json()
    assert agent["name"] == "Fake agent" and agent["endpoint"] == fake_agent.url and agent["protocol_version"] == "1.0"
    assert [s["id"] for s in agent["skills"]] == ["echo"] and agent["price_per_task"] == "2.0000"


def test_public_agents_are_readable_by_all_but_writable_by_the_owner_only(user: Any, other_user: Any, fake_agent: Any) -> None:
    agent = _register(client_for(user), fake_agent.url)
    other = client_for(other_user)
    assert other.get(f"/api/v1/agents/{agent['id']}").status_code == 200
    assert agent["id"] in [a["id"] for a in other.get("/api/v1/agents").json()["results"]]
    for answer in (other.patch(f"/api/v1/agents/{agent['id']}", {"name": "mine"}, format="json"),
                   other.delete(f"/api/v1/agents/{agent['id']}"),
                   other.post(f"/api/v1/agents/{agent['id']}/heartbeat", {}, format="json"),
                   other.get(f"/api/v1/agents/{agent['id']}/api-keys"),
                   other.post(f"/api/v1/agents/{agent['id']}/api-keys", {"name": "k"}, format="json")):
        assert answer.status_code == 403, answer.content
        assert answer.json()["error"]["code"] == "FORBIDDEN"
    assert Agent.objects.get(pk=agent["id"]).name == "Summarizer"


def test_private_agents_are_invisible_to_others_and_shared_with_a_workspace(user: Any, other_user: Any, fake_agent: Any) -> None:
    agent = _register(client_for(user), fake_agent.url, visibility="private")
    other = client_for(other_user)
    for answer in (other.get(f"/api/v1/agents/{agent['id']}"), other.patch(f"/api/v1/agents/{agent['id']}", {"name": "x"}, format="json"),
                   other.delete(f"/api/v1/agents/{agent['id']}"), other.get(f"/api/v1/agents/{agent['id']}/api-keys"),
                   other.post(f"/api/v1/agents/{agent['id']}/heartbeat", {}, format="json"),
                   other.get(f"/api/v1/trust/{agent['id']}"), other.get(f"/api/v1/trust/{agent['id']}/history"),
                   other.post("/api/v1/tasks", {"assigned_agent_id": agent["id"], "description": "hi"}, format="json")):
        assert answer.status_code == 404, answer.content
    assert agent["id"] not in [a["id"] for a in other.get("/api/v1/agents").json()["results"]]
    assert agent["id"] not in [a["id"] for a in other.get("/api/v1/discover").json()["results"]]
    # Shared with a workspace the other user belongs to (as a plain member): readable, not writable.
    workspace = account_services.workspace_create(user=user, name="Team")
    account_services.workspace_member_add(workspace=workspace, user=user, email=other_user.email, role="member")
    shared = client_for(user).patch(f"/api/v1/agents/{agent['id']}", {"workspace_id": str(workspace.pk)}, format="json")
    assert shared.status_code == 200, shared.content
    assert other.get(f"/api/v1/agents/{agent['id']}").status_code == 200
    assert other.patch(f"/api/v1/agents/{agent['id']}", {"name": "x"}, format="json").status_code == 403
    # Sharing needs membership of the workspace.
    foreign = WorkspaceFactory()
    refused = client_for(user).patch(f"/api/v1/agents/{agent['id']}", {"workspace_id": str(foreign.pk)}, format="json")
    assert refused.status_code == 400 and "workspace_id" in refused.json()["error"]["details"]


def test_discover_filters_and_ranks(user: Any, fake_agent: Any) -> None:
    client = client_for(user)
    summarizer = _register(client, fake_agent.url)
    coder = _register(client, fake_agent.url, name="Code reviewer", description="Reviews pull requests for bugs.", category="code",
                      tags=["code"], skills=[{"id": "review", "name": "Review", "description": "Find bugs in Python code", "tags": ["python", "review"]}])
    Agent.objects.filter(pk=coder["id"]).update(trust_score=90, status="online")

    def ids(query: str) -> list[str]:
        answer = client.get(f"/api/v1/discover?{query}")
        assert answer.status_code == 200, answer.content
        return [a["id"] for a in answer.json()["results"]]

    assert ids("skill_tags=python") == [coder["id"]]
    assert ids("skill_tags=python,summary") == [coder["id"], summarizer["id"]]  # any; ranked by trust
    assert ids("skill_tags=python,summary&match=all") == []
    assert ids("skill_tags=summary,text&match=all") == [summarizer["id"]]
    assert ids("category=code") == [coder["id"]]
    assert ids("min_trust_score=80") == [coder["id"]]
    assert ids("status=online") == [coder["id"]]
    assert ids("q=summarize+documents") == [summarizer["id"]]  # full text over name, description and skills
    assert ids("q=bugs") == [coder["id"]]
    assert ids("q=reviewr") == [coder["id"]]  # trigram: a misspelling still finds it
    assert ids("q=summarise+documnets") == [summarizer["id"]]
    assert ids("q=please+summarize+documents") == [summarizer["id"]]  # a word no agent uses is left out
    assert ids("q=bugs+summarize") == []  # every (known) word must match
    page = client.get("/api/v1/discover?limit=1&offset=1").json()
    assert page["count"] == 2 and [a["id"] for a in page["results"]] == [summarizer["id"]]
    assert client.get("/api/v1/discover?min_trust_score=abc").status_code == 400
    assert client.get("/api/v1/discover?limit=-1").status_code == 400


def test_heartbeat_by_owner_and_by_agent_key_and_the_offline_sweep(user: Any, other_user: Any, fake_agent: Any) -> None:
    client = client_for(user)
    agent = _register(client, fake_agent.url)
    beat = client.post(f"/api/v1/agents/{agent['id']}/heartbeat", {"metadata": {"load": 0.5}}, format="json")
    assert beat.status_code == 200 and beat.json()["status"] == "online"
    created = client.post(f"/api/v1/agents/{agent['id']}/api-keys", {"name": "runner"}, format="json")
    assert created.status_code == 201
    raw = created.json()["key"]
    assert raw.startswith("nxa_")
    listed = client.get(f"/api/v1/agents/{agent['id']}/api-keys").json()
    assert [k["id"] for k in listed] == [created.json()["id"]] and "key" not in listed[0]  # shown once
    anonymous = APIClient()
    degraded = anonymous.post(f"/api/v1/agents/{agent['id']}/heartbeat", {"status": "degraded"}, format="json", HTTP_X_AGENT_KEY=raw)
    assert degraded.status_code == 200 and degraded.json()["status"] == "degraded"
    stored = Agent.objects.get(pk=agent["id"])
    assert stored.metadata["load"] == 0.5
    # A key works for its own agent only; a wrong or revoked key is 401.
    second = _register(client, fake_agent.url, name="Second")
    assert anonymous.post(f"/api/v1/agents/{second['id']}/heartbeat", {}, format="json", HTTP_X_AGENT_KEY=raw).status_code == 404
    assert anonymous.post(f"/api/v1/agents/{agent['id']}/heartbeat", {}, format="json", HTTP_X_AGENT_KEY="nxa_wrong").status_code == 401
    assert client.delete(f"/api/v1/agents/{agent['id']}/api-keys/{created.json()['id']}").status_code == 204
    assert anonymous.post(f"/api/v1/agents/{agent['id']}/heartbeat", {}, format="json", HTTP_X_AGENT_KEY=raw).status_code == 401
    # Another user's keys: not theirs to list or revoke.
    key, _ = services.agent_key_create(agent=Agent.objects.get(pk=second["id"]), name="k")
    other = client_for(other_user)
    assert other.delete(f"/api/v1/agents/{second['id']}/api-keys/{key.pk}").status_code == 403
    assert client.delete(f"/api/v1/agents/{agent['id']}/api-keys/{key.pk}").status_code == 404  # a key of another agent
    # Silent agents go offline.
    Agent.objects.filter(pk=agent["id"]).update(last_heartbeat_at=timezone.now() - timedelta(hours=1), status="online")
    assert services.agents_sweep_offline() >= 1
    assert Agent.objects.get(pk=agent["id"]).status == "offline"


def test_a_key_without_the_agents_scope_is_403(fake_agent: Any) -> None:
    user = UserFactory()
    _key, raw = account_services.api_key_create(user=user, name="chat only", scopes=["chat"])
    client = APIClient()
    answer = client.get("/api/v1/agents", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert answer.status_code == 403
    assert APIClient().get("/api/v1/agents").status_code == 401


def test_an_agent_card_over_the_size_cap_is_refused(user: Any, settings: Any) -> None:
    """The card is read through the outbound guard up to its cap (256 KB): a longer one is a 400 on card_url."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class _BigCard(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802  (the stdlib's name)
            body = b'{"name": "' + b"x" * (300 * 1024) + b'"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    settings.ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BigCard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        card_url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/agent-card.json"
        answer = client_for(user).post("/api/v1/agents", {"card_url": card_url}, format="json")
    finally:
        server.shutdown()
        server.server_close()
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR" and answer.json()["error"]["details"]["card_url"] == ["HTTP 200."]
    assert not Agent.objects.exists()
