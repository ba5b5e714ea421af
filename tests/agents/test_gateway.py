"""The platform's A2A gateway and agent cards, driven by a2a-sdk's own client against a real daphne server."""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.client.card_resolver import parse_agent_card
from a2a.compat.v0_3 import types as types_v03
from a2a.types.a2a_pb2 import CancelTaskRequest, GetTaskRequest, Message, Part, Role, SendMessageRequest, TaskState
from a2a.utils.errors import TaskNotCancelableError, TaskNotFoundError
from google.protobuf.struct_pb2 import Struct

from apps.accounts import services as account_services
from apps.agents.models import Task
from tests.conftest import LiveServer, start_daphne, stop_process
from tests.factories import UserFactory
from tests.llm.conftest import committed_db  # noqa: F401  (fixture)

from .conftest import agent_body, client_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture
def server(committed_db: None, fake_agent: Any, tmp_path: Path) -> Iterator[LiveServer]:  # noqa: F811
    """daphne on the test database; tasks are forwarded in the request (eager), loopback agents allowed."""
    live = start_daphne(tmp_path, CELERY_TASK_ALWAYS_EAGER="true", ALLOWED_PRIVATE_NETWORKS="127.0.0.0/8")
    yield live
    stop_process(live.process)


@pytest.fixture
def world(server: LiveServer, fake_agent: Any) -> dict[str, Any]:
    owner, caller = UserFactory(), UserFactory()
    agent = client_for(owner).post("/api/v1/agents", agent_body(fake_agent.url), format="json").json()
    _key, raw = account_services.api_key_create(user=caller, name="a2a", scopes=["agents"])
    return {"server": server, "agent": agent, "caller": caller, "key": raw, "fake": fake_agent}


def _message(text: str, *, agent_id: str | None = None, task_id: str = "") -> Message:
    message = Message(message_id=uuid.uuid4().hex, role=Role.ROLE_USER, parts=[Part(text=text)])
    if agent_id:
        metadata = Struct()
        metadata.update({"agent_id": agent_id})
        message.metadata.CopyFrom(metadata)
    if task_id:
        message.task_id = task_id
    return message


async def _client(world: dict[str, Any], version: str, *, streaming: bool = False) -> Any:
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {world['key']}"}, timeout=30)
    card = await _card(world, http, version)
    factory = ClientFactory(ClientConfig(streaming=streaming, httpx_client=http))
    return factory.create(card), http


async def _card(world: dict[str, Any], http: httpx.AsyncClient, version: str) -> Any:
    raw = (await http.get(f"{world['server'].url}/.well-known/agent-card.json")).json()
    card = parse_agent_card(raw)
    # Keep only the interface of the version under test, so the SDK speaks that version's method names.
    keep = [i for i in card.supported_interfaces if i.protocol_version == version]
    del card.supported_interfaces[:]
    card.supported_interfaces.extend(keep)
    return card


@pytest.mark.parametrize("version", ["1.0", "0.3"])
def test_send_get_and_reply_through_the_gateway(world: dict[str, Any], version: str) -> None:
    async def scenario() -> None:
        client, http = await _client(world, version)
        try:
            events = [e async for e in client.send_message(SendMessageRequest(message=_message("Hello #input", agent_id=world["agent"]["id"])))]
            task = events[-1].task
            assert task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
            assert task.status.message.parts[0].text == "Which language should I answer in?"
            reply = [e async for e in client.send_message(SendMessageRequest(message=_message("English", task_id=task.id)))]
            done = reply[-1].task
            assert done.id == task.id and done.status.state == TaskState.TASK_STATE_COMPLETED
            assert done.artifacts[0].parts[0].text == "Done: English"
            fetched = await client.get_task(GetTaskRequest(id=task.id))
            assert fetched.status.state == TaskState.TASK_STATE_COMPLETED and len(fetched.history) == 4
            with pytest.raises(TaskNotCancelableError):
                await client.cancel_task(CancelTaskRequest(id=task.id))  # ended
            with pytest.raises(TaskNotFoundError):
                await client.get_task(GetTaskRequest(id=str(uuid.uuid4())))
        finally:
            await client.close()
            await http.aclose()

    asyncio.run(scenario())
    stored = Task.objects.get(requester=world["caller"])
    assert stored.status == "completed" and str(stored.agent_id) == world["agent"]["id"]


@pytest.mark.parametrize("version", ["1.0", "0.3"])
def test_best_skill_match_and_streaming(world: dict[str, Any], version: str) -> None:
    async def scenario() -> list[Any]:
        client, http = await _client(world, version, streaming=True)
        try:
            return [e async for e in client.send_message(SendMessageRequest(message=_message("Please summarize this text")))]
        finally:
            await client.close()
            await http.aclose()

    events = asyncio.run(scenario())
    assert events[-1].task.status.state == TaskState.TASK_STATE_COMPLETED
    assert str(Task.objects.get(requester=world["caller"]).agent_id) == world["agent"]["id"]  # routed by its skills


def test_cancel_through_the_gateway(world: dict[str, Any]) -> None:
    async def scenario() -> Any:
        client, http = await _client(world, "0.3")
        try:
            events = [e async for e in client.send_message(SendMessageRequest(message=_message("Ask #input", agent_id=world["agent"]["id"])))]
            return await client.cancel_task(CancelTaskRequest(id=events[-1].task.id))
        finally:
            await client.close()
            await http.aclose()

    cancelled = asyncio.run(scenario())
    assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
    assert Task.objects.get(requester=world["caller"]).status == "cancelled"


def test_json_rpc_errors_and_authentication(world: dict[str, Any]) -> None:
    url = f"{world['server'].url}/api/v1/a2a"
    headers = {"Authorization": f"Bearer {world['key']}", "Content-Type": "application/json"}

    def call(body: Any, **kwargs: Any) -> dict[str, Any]:
        answer = httpx.post(url, content=body if isinstance(body, bytes) else httpx.Request("POST", url, json=body).content,
                            headers=kwargs.get("headers", headers), timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    assert call(b"{not json")["error"]["code"] == -32700
    assert call([1, 2])["error"]["code"] == -32600
    assert call({"jsonrpc": "1.0", "id": 1, "method": "message/send", "params": {}})["error"]["code"] == -32600
    assert call({"jsonrpc": "2.0", "id": 1, "method": "tasks/resubscribe", "params": {}})["error"]["code"] == -32601
    bad = call({"jsonrpc": "2.0", "id": 7, "method": "message/send", "params": {"message": "nope"}})
    assert bad["error"]["code"] == -32602 and bad["id"] == 7
    missing = call({"jsonrpc": "2.0", "id": 8, "method": "tasks/get", "params": {"id": str(uuid.uuid4())}})
    assert missing["error"]["code"] == -32001
    # Never an open gateway: no key is 401, a JWT-less session-less call too, and a key without `agents` is 403.
    assert httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "x"}}).status_code == 401
    _key, chat_only = account_services.api_key_create(user=world["caller"], name="chat", scopes=["chat"])
    refused = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "x"}},
                         headers={"Authorization": f"Bearer {chat_only}"})
    assert refused.status_code == 403
    # Another caller's task is not found.
    task_id = str(Task.objects.create(requester=UserFactory(), agent_id=world["agent"]["id"], timeout_seconds=5).pk)
    assert call({"jsonrpc": "2.0", "id": 9, "method": "GetTask", "params": {"id": task_id}})["error"]["code"] == -32001


def test_agent_cards_validate_against_the_sdk_models(world: dict[str, Any]) -> None:
    base = world["server"].url
    v1 = httpx.get(f"{base}/.well-known/agent-card.json").json()
    card = parse_agent_card(v1)
    assert card.name == "Nexus" and card.capabilities.streaming
    assert {i.protocol_version for i in card.supported_interfaces} == {"1.0", "0.3"}
    assert all(i.url == f"{base}/api/v1/a2a" for i in card.supported_interfaces)
    assert card.security_schemes["nxk_bearer"].http_auth_security_scheme.scheme == "bearer"
    assert f"{world['agent']['id']}:summarize" in [s.id for s in card.skills]  # skills of public agents
    legacy = types_v03.AgentCard.model_validate(httpx.get(f"{base}/.well-known/agent.json").json())
    assert legacy.url == f"{base}/api/v1/a2a" and legacy.security_schemes and "nxk_bearer" in legacy.security_schemes
