"""WS /ws/forge/{session_id} in process with Channels' WebsocketCommunicator: order, late clients, cursors, refusals."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from apps.core.streams import read_events
from apps.forge.models import Build
from apps.forge.runner import build_run
from apps.forge.selectors import build_stream_key
from config.asgi import application
from tests.chat.conftest import make_caller

from .conftest import FORGE_MODEL, client_for, script_app

pytestmark = pytest.mark.django_db(transaction=True)


def _communicator(path: str, token: str | None) -> WebsocketCommunicator:
    query = f"?token={token}" if token else ""
    if token and "?" in path:
        query = f"&token={token}"
    return WebsocketCommunicator(application, path + query, headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")])


async def _until_final(communicator: WebsocketCommunicator) -> list[dict[str, Any]]:
    messages = []
    while True:
        message = await communicator.receive_json_from(timeout=20)
        messages.append(message)
        if message["type"] in ("build_completed", "error"):
            return messages


@pytest.fixture
def finished(forge_caller: Any, forge_model: Any) -> tuple[Any, str]:
    """A caller and one of their builds, already completed (eager Celery)."""
    script_app(forge_model)
    answer = client_for(forge_caller.user).post("/api/v1/forge/builds", {"prompt": "A to-do list"}, format="json")
    assert answer.status_code == 202
    return forge_caller, answer.json()["session_id"]


async def test_a_late_client_first_receives_every_event_it_missed_in_order(finished: tuple[Any, str]) -> None:
    caller, build_id = finished
    stored = await sync_to_async(read_events)(build_stream_key(build_id))
    communicator = _communicator(f"/ws/forge/{build_id}", caller.key)
    connected, _ = await communicator.connect()
    assert connected
    hello = await communicator.receive_json_from(timeout=10)
    assert hello == {"type": "connected", "seq": 0, "data": {"session_id": build_id, "status": "completed", "progress": 100,
                                                              "message": hello["data"]["message"]}}
    messages = await _until_final(communicator)
    assert [m["seq"] for m in messages] == [e.id for e in stored] == list(range(1, len(stored) + 1))
    assert [{"type": m["type"], "data": m["data"]} for m in messages] == [e.data for e in stored]
    assert all(set(m) == {"type", "data", "seq"} for m in messages)
    assert messages[-1]["type"] == "build_completed"
    assert set(messages[-1]["data"]) == {"deployment_url", "total_time", "summary"}
    assert (await communicator.receive_output(timeout=5))["type"] == "websocket.close"


async def test_a_reconnecting_client_resumes_after_its_cursor(finished: tuple[Any, str]) -> None:
    caller, build_id = finished
    stored = await sync_to_async(read_events)(build_stream_key(build_id))
    cursor = len(stored) - 3
    communicator = _communicator(f"/ws/forge/{build_id}?after={cursor}", caller.key)
    await communicator.connect()
    assert (await communicator.receive_json_from(timeout=10))["seq"] == cursor
    messages = await _until_final(communicator)
    assert [m["seq"] for m in messages] == [cursor + 1, cursor + 2, cursor + 3]
    await communicator.disconnect()


@pytest.fixture
def queued(forge_caller: Any, forge_model: Any) -> tuple[Any, str]:
    """A caller and a build of theirs that no worker has started yet."""
    script_app(forge_model)
    build = Build.objects.create(owner=forge_caller.user, prompt="A to-do list", config={"stack": "static", "styling": "plain"},
                                 model_name=FORGE_MODEL)
    return forge_caller, str(build.pk)


async def test_a_client_watching_from_the_start_gets_the_phases_live_in_order(queued: tuple[Any, str]) -> None:
    caller, build_id = queued
    communicator = _communicator(f"/ws/forge/{build_id}", caller.key)
    await communicator.connect()
    hello = await communicator.receive_json_from(timeout=10)
    assert hello["type"] == "connected" and hello["data"]["status"] == "initializing"
    run = asyncio.ensure_future(sync_to_async(build_run, thread_sensitive=False)(build_id=build_id))
    messages = await _until_final(communicator)
    assert await run == "completed"
    stored = await sync_to_async(read_events)(build_stream_key(build_id))
    assert [m["seq"] for m in messages] == [e.id for e in stored]
    assert [{"type": m["type"], "data": m["data"]} for m in messages] == [e.data for e in stored]
    phases = [m["data"]["phase"] for m in messages if m["type"] == "phase_completed"]
    assert phases == ["analyzing", "generating_spec", "building", "optimizing", "deploying"]
    assert messages[0]["type"] == "progress_update" and messages[-1]["type"] == "build_completed"


async def test_refusals(queued: tuple[Any, str]) -> None:
    caller, build_id = queued
    stranger = await sync_to_async(make_caller)()
    for token, code in [(None, 4401), ("nxk_not_a_key", 4401), (stranger.key, 4404)]:
        communicator = _communicator(f"/ws/forge/{build_id}", token)
        await communicator.connect()
        assert await communicator.receive_output(timeout=10) == {"type": "websocket.close", "code": code}
    communicator = _communicator("/ws/forge/7d4c0e5e-9f33-4a39-8d0e-000000000000", caller.key)
    await communicator.connect()
    assert await communicator.receive_output(timeout=10) == {"type": "websocket.close", "code": 4404}


async def test_a_caller_whose_roles_lack_forge_is_refused_with_4403(queued: tuple[Any, str]) -> None:
    from apps.accounts.models import UserRole

    caller, build_id = queued
    await sync_to_async(lambda: UserRole.objects.filter(user=caller.user).delete())()
    communicator = _communicator(f"/ws/forge/{build_id}", caller.key)
    await communicator.connect()
    assert await communicator.receive_output(timeout=10) == {"type": "websocket.close", "code": 4403}


async def test_an_ended_build_whose_stream_expired_still_gets_its_end(finished: tuple[Any, str]) -> None:
    from apps.core.streams import delete_stream

    caller, build_id = finished
    await sync_to_async(delete_stream)(build_stream_key(build_id))
    communicator = _communicator(f"/ws/forge/{build_id}", caller.key)
    await communicator.connect()
    assert (await communicator.receive_json_from(timeout=10))["type"] == "connected"
    end = await communicator.receive_json_from(timeout=10)
    assert end["type"] == "build_completed" and end["seq"] == 1 and end["data"]["deployment_url"].endswith("/")
    assert (await communicator.receive_output(timeout=5))["type"] == "websocket.close"
