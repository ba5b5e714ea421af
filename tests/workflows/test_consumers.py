"""WS /ws/workflows/{id}: two editors (presence, cursors, block edits with versions, conflict), refusals."""
from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from apps.accounts.models import WorkspaceMember
from apps.workflows.models import Workflow
from config.asgi import application
from tests.chat.conftest import make_caller
from tests.factories import WorkspaceFactory

from .conftest import client_for, condition, create

pytestmark = pytest.mark.django_db(transaction=True)


def _communicator(workflow_id: str, token: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, f"/ws/workflows/{workflow_id}?token={token}",
                                 headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")])


async def _next(communicator: WebsocketCommunicator, kind: str) -> dict[str, Any]:
    while True:
        message = await communicator.receive_json_from(timeout=10)
        if message["type"] == kind:
            return message


@pytest.fixture
def room(committed_db: Any) -> tuple[Any, Any, Any, str]:
    """An owner, a workspace admin (editor) and a plain member (reader) of a shared workflow."""
    owner, editor, reader = make_caller(), make_caller(), make_caller()
    workspace = WorkspaceFactory(owner=owner.user)
    WorkspaceMember.objects.create(workspace=workspace, user=editor.user, role="admin")
    WorkspaceMember.objects.create(workspace=workspace, user=reader.user, role="member")
    workflow_id = create(client_for(owner.user), [condition("first", "true")], workspace_id=str(workspace.pk)).json()["id"]
    return owner, editor, reader, workflow_id


async def test_two_editors_see_each_other_and_concurrent_edits_never_overwrite(room: Any) -> None:
    owner, editor, _reader, workflow_id = room
    alice = _communicator(workflow_id, owner.key)
    assert (await alice.connect())[0]
    hello = await _next(alice, "connected")
    assert hello["data"]["version"] == 1 and [s["name"] for s in hello["data"]["steps"]] == ["first"]
    bob = _communicator(workflow_id, editor.key)
    assert (await bob.connect())[0]
    joined = await _next(alice, "user:join")
    assert joined["data"]["email"] == editor.user.email
    bob_hello = await _next(bob, "connected")
    assert {u["email"] for u in bob_hello["data"]["users"]} == {owner.user.email, editor.user.email}

    await bob.send_json_to({"type": "workflow:join"})
    assert (await _next(bob, "workflow:state"))["data"]["version"] == 1
    await alice.send_json_to({"type": "cursor:move", "data": {"x": 10, "y": 20}})
    cursor = await _next(bob, "cursor:move")
    assert cursor["data"] == {"x": 10, "y": 20} and cursor["user"]["email"] == owner.user.email

    # both edit version 1 at once: the first wins, the second is told the current version
    await alice.send_json_to({"type": "block:add", "version": 1,
                              "data": {"step": condition("second", "true", [0])}})
    ack = await _next(alice, "ack")
    assert ack["data"]["version"] == 2
    await bob.send_json_to({"type": "block:update", "version": 1, "data": {"index": 0, "step": condition("renamed", "false")}})
    assert await _next(bob, "conflict") == {"type": "conflict", "data": {"current_version": 2}}
    seen = await _next(bob, "block:add")
    assert seen["version"] == 2 and seen["user"]["email"] == owner.user.email and seen["data"]["step"]["name"] == "second"
    # re-synced, bob edits version 2
    await bob.send_json_to({"type": "block:update", "version": 2, "data": {"index": 0, "step": condition("renamed", "false")}})
    assert (await _next(bob, "ack"))["data"]["version"] == 3
    update = await _next(alice, "block:update")
    assert update["version"] == 3 and update["user"]["email"] == editor.user.email
    # an invalid edit is refused with field details and changes nothing
    await alice.send_json_to({"type": "block:update", "version": 3, "data": {"index": 1, "step": condition("x", "true", [5])}})
    refused = await _next(alice, "error")
    assert refused["data"]["code"] == "VALIDATION_ERROR" and "steps.1.depends_on" in refused["data"]["details"]
    await alice.send_json_to({"type": "block:delete", "version": 3, "data": {"index": 0}})
    assert (await _next(alice, "ack"))["data"]["version"] == 4
    workflow = await sync_to_async(Workflow.objects.get)(pk=workflow_id)
    assert workflow.version == 4 and [s["name"] for s in workflow.steps] == ["second"] and workflow.steps[0]["depends_on"] == []

    await bob.disconnect()
    left = await _next(alice, "user:leave")
    assert left["data"]["email"] == editor.user.email
    await alice.disconnect()


async def test_readers_strangers_and_anonymous_clients_are_refused(room: Any) -> None:
    _owner, _editor, reader, workflow_id = room
    stranger = await sync_to_async(make_caller)()
    for token, code in [(reader.key, 4403), (stranger.key, 4404)]:
        communicator = _communicator(workflow_id, token)
        await communicator.connect()
        assert (await communicator.receive_output(timeout=10))["code"] == code
    communicator = _communicator("00000000-0000-0000-0000-000000000000", reader.key)
    await communicator.connect()
    assert (await communicator.receive_output(timeout=10))["code"] == 4404
    communicator = WebsocketCommunicator(application, f"/ws/workflows/{workflow_id}",
                                         headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")])
    await communicator.connect()
    assert (await communicator.receive_output(timeout=10))["code"] == 4401


async def test_a_page_reloaded_before_its_old_connection_left_keeps_its_user_present(room: Any) -> None:
    """The old connection's leave says who remains: the same user, on the new connection, is still there."""
    owner, editor, _reader, workflow_id = room
    bob = _communicator(workflow_id, editor.key)
    assert (await bob.connect())[0]
    await _next(bob, "connected")
    old = _communicator(workflow_id, owner.key)
    assert (await old.connect())[0]
    await _next(old, "connected")
    new = _communicator(workflow_id, owner.key)  # the reloaded page joins first ...
    assert (await new.connect())[0]
    await _next(new, "connected")
    await old.disconnect()  # ... then the old page's connection leaves
    left = await _next(new, "user:leave")
    assert left["data"]["email"] == owner.user.email
    assert {u["email"] for u in left["users"]} == {owner.user.email, editor.user.email}
    assert {u["email"] for u in (await _next(bob, "user:leave"))["users"]} == {owner.user.email, editor.user.email}
    await new.disconnect()
    assert {u["email"] for u in (await _next(bob, "user:leave"))["users"]} == {editor.user.email}
    await bob.disconnect()
