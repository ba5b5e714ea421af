"""The SDK against a live daphne and the loopback fake provider: each section, pagination, streams, retries, errors."""
from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import httpx
import pytest
from nexus_sdk import (
    AsyncNexusClient,
    Forbidden,
    NexusClient,
    NotFound,
    RateLimited,
    Unauthorized,
    ValidationError,
)

from apps.accounts.models import Tier, Workspace
from tests.fakes.cutting_proxy import CuttingProxy
from tests.fakes.llm_server import DEFAULT_REPLY

from .conftest import Caller, make_caller

pytestmark = pytest.mark.live


def _client(server: Any, caller: Caller, **options: Any) -> NexusClient:
    return NexusClient(server.url, caller.key, **options)


def test_accounts_keys_workspaces_models_and_billing(caller: Caller, daphne_server: Any) -> None:
    with _client(daphne_server, caller) as client:
        assert client.system.health()["status"] in {"healthy", "degraded"}
        assert client.system.schema(params={"format": "json"})["openapi"].startswith("3")
        session = client.auth.session()
        assert session.auth_method and session.user["email"] == caller.user.email
        assert client.auth.password_reset(email=caller.user.email)["detail"]  # 202, mailed by the worker
        with pytest.raises(ValidationError) as bad_token:
            client.auth.password_reset_confirm(uid="x", token="y", new_password="long-enough-password")
        assert "token" in bad_token.value.details
        me = client.auth.update_me(first_name="Ada")
        assert me.first_name == "Ada" and client.auth.me().first_name == "Ada"
        assert {m.name for m in client.models.list()} >= {"fake-openai", "fake-anthropic", "fake-gemini"}

        created = client.keys.create(name="ci", scopes=["chat"])
        assert created.key and created.key.startswith("nxk_")
        assert created.id in {k.id for k in client.keys.list()}
        assert client.keys.get(created.id).name == "ci"
        client.keys.revoke(created.id)
        with pytest.raises(Unauthorized):
            NexusClient(daphne_server.url, created.key).auth.session()

        workspace = client.workspaces.create(name="Team")
        assert client.workspaces.get(workspace.id).name == "Team"
        assert client.workspaces.update(workspace.id, name="Team 2").name == "Team 2"
        other = make_caller()
        # Adding a member invites them by email (202): pending until they accept the mailed link.
        sent = client.workspaces.invite(workspace.id, email=other.user.email.upper(), role="member")
        assert sent.invitation.status == "pending" and sent.invitation.email == other.user.email
        assert [i.id for i in client.workspaces.invitations(workspace.id)] == [sent.invitation.id]
        client.workspaces.revoke_invitation(workspace.id, sent.invitation.id)
        assert list(client.workspaces.invitations(workspace.id)) == []
        assert len(list(client.workspaces.members(workspace.id))) == 1
        from apps.accounts import services as accounts

        accounts.workspace_member_add(workspace=Workspace.objects.get(pk=workspace.id), user=caller.user, email=other.user.email, role="member")
        assert len(list(client.workspaces.members(workspace.id))) == 2
        client.workspaces.remove_member(workspace.id, other.user.pk)
        assert [w.id for w in client.workspaces.list()] == [workspace.id]
        client.workspaces.delete(workspace.id)

        balance = client.billing.balance()
        assert balance.balance > 0
        assert client.billing.plans()["tiers"]
        assert client.billing.usage(period="7d")["period"] == "7d"
        assert list(client.billing.transactions(type="reset")) is not None


def test_lists_page_with_limit_and_offset(caller: Caller, daphne_server: Any) -> None:
    with _client(daphne_server, caller) as client:
        folder = client.folders.create(name="Work")
        created = [client.conversations.create(title=f"c{i}", folder_id=folder.id).id for i in range(7)]
        pages = client.conversations.list(folder_id=folder.id, limit=3)
        seen = [c.id for c in pages]
        assert sorted(seen) == sorted(created) and len(seen) == 7
        assert pages.count == 7 and pages.pages_fetched == 3
        assert [c.title for c in client.conversations.list(search="c3")] == ["c3"]
        assert client.conversations.update(created[0], title="renamed").title == "renamed"
        client.conversations.delete(created[0])
        with pytest.raises(NotFound):
            client.conversations.get(created[0])
        assert client.folders.update(folder.id, name="Home").name == "Home"
        assert [f.name for f in client.folders.list()] == ["Home"]


def test_a_streamed_chat_and_its_stored_messages(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:
    with _client(daphne_server, caller) as client:
        stream = client.chat.stream(messages=[{"role": "user", "content": "Hello"}], model_id="fake-openai")
        events = list(stream)
        assert events[-1].type == "finish" and events[-1].usage["total_tokens"] > 0
        assert "".join(e.content for e in events if e.type == "text-delta") == DEFAULT_REPLY
        conversation_id = stream.response_headers["x-conversation-id"]
        messages = list(client.conversations.messages(conversation_id))
        assert [(m.role, m.status) for m in messages] == [("user", "complete"), ("assistant", "complete")]
        # Nothing is generating any more: the re-attach stream is empty.
        assert list(client.conversations.stream(conversation_id)) == []


def test_an_interrupted_chat_stream_resumes_with_last_event_id(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:
    proxy = CuttingProxy(daphne_server.url, cut_prefix=b"POST /api/v1/chat", cut_after=1500)
    try:
        with NexusClient(proxy.url, caller.key) as client:
            stream = client.chat.stream(messages=[{"role": "user", "content": "Count #words=60 #slow=0.02"}], model_id="fake-openai")
            events = list(stream)
    finally:
        proxy.close()
    assert proxy.cuts == 1 and stream.reconnects == 1
    ids = [int(e.id) for e in events]
    assert ids == list(range(ids[0], ids[0] + len(ids))), "no event lost or repeated across the reconnection"
    words = "".join(e.content for e in events if e.type == "text-delta").split()
    assert words == [f"w{i}" for i in range(60)]
    assert events[-1].type == "finish"


def test_a_429_is_retried_after_retry_after(fake_models: Any, daphne_server: Any) -> None:
    Tier.objects.filter(slug="free").update(chat_concurrent=1)
    caller = make_caller()
    retries: list[tuple[int, int, float]] = []
    first_started = threading.Event()
    first_events: list[Any] = []

    def first_chat() -> None:
        with _client(daphne_server, caller) as client:
            for event in client.chat.stream(messages=[{"role": "user", "content": "Long #words=30 #slow=0.05"}], model_id="fake-openai"):
                first_started.set()
                first_events.append(event)

    thread = threading.Thread(target=first_chat)
    thread.start()
    assert first_started.wait(30)
    # Without retries, the second concurrent chat is refused with a typed error that says when to retry.
    with _client(daphne_server, caller, max_retries=0) as client, pytest.raises(RateLimited) as refused:
        list(client.chat.stream(messages=[{"role": "user", "content": "again"}], model_id="fake-openai"))
    assert refused.value.status == 429 and refused.value.retry_after and refused.value.retry_after >= 1
    # With retries, the SDK waits Retry-After and the call goes through once the first reply is done.
    with _client(daphne_server, caller, on_retry=lambda n, r, wait: retries.append((n, r.status_code, wait))) as client:
        events = list(client.chat.stream(messages=[{"role": "user", "content": "again"}], model_id="fake-openai"))
    thread.join(30)
    assert retries and retries[0][1] == 429 and retries[0][2] >= 1
    assert events[-1].type == "finish" and first_events[-1].type == "finish"


def test_errors_are_typed_from_the_envelope(caller: Caller, daphne_server: Any) -> None:
    with _client(daphne_server, caller) as client:
        with pytest.raises(NotFound) as missing:
            client.knowledge.get(uuid.uuid4())
        assert missing.value.code == "NOT_FOUND" and missing.value.status == 404 and missing.value.request_id
        with pytest.raises(ValidationError) as invalid:
            client.keys.create(name="bad", scopes=["no-such-scope"])
        assert "scopes" in invalid.value.details
        with pytest.raises(ValidationError):
            list(client.conversations.list(limit=-1))
    with pytest.raises(Unauthorized):
        NexusClient(daphne_server.url, "nxk_not_a_key").conversations.get(uuid.uuid4())
    chat_only = make_caller(scopes=["chat"])
    with pytest.raises(Forbidden) as forbidden:
        list(NexusClient(daphne_server.url, chat_only.key).knowledge.list())
    assert forbidden.value.code == "FORBIDDEN"


def test_knowledge_architect_and_documents_sections(caller: Caller, daphne_server: Any) -> None:
    with _client(daphne_server, caller) as client:
        repository = client.knowledge.create(name="Docs", description="d")
        assert client.knowledge.update(repository.id, name="Docs 2").name == "Docs 2"
        uploaded = client.knowledge.upload(repository.id, file=b"Wind turbines make electricity.", filename="wind.txt")
        assert uploaded.status == "pending" and uploaded.document_id
        assert [d.filename for d in client.knowledge.documents(repository.id)] == ["wind.txt"]
        assert client.documents.get(uploaded.document_id).filename == "wind.txt"
        assert client.documents.download(uploaded.document_id) == b"Wind turbines make electricity."
        assert client.knowledge.search(query="turbines", repository_ids=[repository.id], mode="keyword").results is not None
        client.documents.delete(uploaded.document_id)
        with pytest.raises(NotFound):
            client.documents.get(uploaded.document_id)
        assert [r.name for r in client.knowledge.list()] == ["Docs 2"]

        tool = client.architect.create_tool(name="Summarise", description="s", input_fields=[
            {"name": "text", "label": "Text", "type": "textarea", "required": True}],
            prompts=[{"name": "sum", "position": 1, "model_id": "fake-openai", "content": "Summarise {{text}}"}])
        assert client.architect.get_tool(tool.id).name == "Summarise"
        copy = client.architect.duplicate_tool(tool.id)
        assert {t.id for t in client.architect.tools()} >= {tool.id, copy.id}
        client.architect.delete_tool(copy.id)
        assert list(client.architect.executions()) == []


async def test_the_async_client_pages_and_streams(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:
    async with AsyncNexusClient(daphne_server.url, caller.key) as client:
        created = await asyncio.gather(*(client.conversations.create(title=f"a{i}") for i in range(4)))
        pages = client.conversations.list(limit=2)
        assert sorted([c.id async for c in pages]) == sorted(c.id for c in created) and pages.pages_fetched == 2
        stream = client.chat.stream(messages=[{"role": "user", "content": "Hi #words=5"}], model_id="fake-anthropic")
        events = [event async for event in stream]
        assert events[-1].type == "finish"
        assert "".join(e.content for e in events if e.type == "text-delta").split() == [f"w{i}" for i in range(5)]
        with pytest.raises(NotFound):
            await client.conversations.get(uuid.uuid4())
        assert (await client.billing.balance()).balance > 0


def test_the_openai_gateway_through_the_openai_sdk(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:
    """The gateway is not wrapped by nexus_sdk; the README shows it with the openai SDK, as here."""
    from openai import OpenAI

    client = OpenAI(base_url=daphne_server.url + "/api/v1/openai", api_key=caller.key, http_client=httpx.Client(timeout=30))
    answer = client.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": "Hello"}])
    assert answer.choices[0].message.content == DEFAULT_REPLY


async def test_the_async_client_resumes_an_interrupted_stream(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:
    proxy = CuttingProxy(daphne_server.url, cut_prefix=b"POST /api/v1/chat", cut_after=1500)
    try:
        async with AsyncNexusClient(proxy.url, caller.key) as client:
            stream = client.chat.stream(messages=[{"role": "user", "content": "Count #words=50 #slow=0.02"}], model_id="fake-openai")
            events = [event async for event in stream]
    finally:
        proxy.close()
    assert proxy.cuts == 1 and stream.reconnects == 1
    ids = [int(e.id) for e in events]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    assert "".join(e.content for e in events if e.type == "text-delta").split() == [f"w{i}" for i in range(50)]


def test_the_admin_section(fake_models: Any, daphne_server: Any) -> None:
    """An admin's key manages users' roles, providers and models; a plain user's key is refused (typed)."""
    from apps.accounts.services import api_key_create
    from tests.factories import AdminUserFactory

    admin = AdminUserFactory()
    _key, raw = api_key_create(user=admin, name="admin", scopes=["*"])
    plain = make_caller()
    with NexusClient(daphne_server.url, raw) as client:
        assert plain.user.email in {u.email for u in client.admin.users()}
        roles = {r.name: r for r in client.admin.roles()}
        client.admin.assign_role(plain.user.id, role_id=roles["admin"].id)
        client.admin.remove_role(plain.user.id, roles["admin"].id)
        provider = client.admin.create_provider(name="sdk-provider", kind="openai", base_url="", api_key="sk-test")
        assert client.admin.get_provider(provider.id).name == "sdk-provider"
        model = client.admin.create_model(name="sdk-model", provider="sdk-provider", provider_model="m", capabilities=["chat"],
                                          input_cost="1", output_cost="2", context_window=1000, max_output_tokens=100)
        assert client.admin.update_model(model.id, output_cost="3").name == "sdk-model"
        assert "sdk-model" in {m.name for m in client.admin.models()}
        client.admin.delete_model(model.id)
        client.admin.delete_provider(provider.id)
        with pytest.raises(NotFound):
            client.admin.get_provider(provider.id)
    with NexusClient(daphne_server.url, plain.key) as client, pytest.raises(Forbidden):
        list(client.admin.users())


async def test_the_workflow_room_two_way(caller: Caller, daphne_server: Any) -> None:
    """Two editors in a workflow's room: presence and cursors reach the other; a stranger is refused (typed)."""
    steps = [{"name": "gate", "kind": "condition", "config": {"expression": "true"}, "depends_on": []}]
    async with AsyncNexusClient(daphne_server.url, caller.key) as client:
        workflow = await client.workflows.create(name="Shared", steps=steps)
        async with client.workflows.room(workflow.id) as first:
            assert (await first.receive()).type == "connected"
            async with client.workflows.room(workflow.id) as second:
                assert (await second.receive()).type == "connected"
                assert (await first.receive()).type == "user:join"
                await second.send("cursor:move", {"x": 10, "y": 20})
                moved = await first.receive()
                assert moved.type == "cursor:move" and moved.data == {"x": 10, "y": 20}
        stranger = await asyncio.to_thread(make_caller)
        async with AsyncNexusClient(daphne_server.url, stranger.key) as other:
            with pytest.raises((NotFound, Forbidden)):
                async with other.workflows.room(workflow.id) as room:
                    await room.receive()


def test_connections_artifacts_and_shared_sections(caller: Caller, daphne_server: Any) -> None:
    from apps.chat import services as chat
    from apps.chat.models import Message

    with _client(daphne_server, caller) as client:
        created = client.connections.create(kind="slack", name="Team", secret="xoxb-sdk-test-token")
        assert created.secret_set is True and "secret" not in created.model_dump()
        assert [c.name for c in client.connections.list()] == ["Team"]
        client.connections.delete(created.id)
        assert list(client.connections.list()) == []
        with pytest.raises(ValidationError):
            client.connections.create(kind="carrier-pigeon", name="Coo")

        link = client.artifacts.create(title="Notes", content_type="text/plain", content="hello", expires_in=3600)
        assert link.token and link.url.endswith(link.token) and link.expires_at
        conversation = chat.conversation_create(user=caller.user, title="Trip")
        reply = Message.objects.create(conversation=conversation, role="assistant", content="Kyoto.")
        from_message = client.artifacts.create(message_id=str(reply.id))
        assert {a.id for a in client.artifacts.list()} == {link.id, from_message.id}
        with NexusClient(daphne_server.url) as anonymous:  # no key: the link alone is enough
            shared = anonymous.shared.get(link.token)
            assert shared.content == "hello" and shared.title == "Notes"
            assert anonymous.shared.get(from_message.token).content == "Kyoto."
            client.artifacts.revoke(link.id)
            with pytest.raises(NotFound):
                anonymous.shared.get(link.token)
