"""The editing room across two daphne processes (the Redis channel layer), with an idle pause longer than a blocking pop."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.chat.conftest import make_caller
from tests.conftest import start_daphne, stop_process

from .conftest import client_for, condition, create

pytestmark = pytest.mark.live


def _next(socket: Any, kind: str) -> dict[str, Any]:
    while True:
        message = json.loads(socket.recv(timeout=15))
        if message["type"] == kind:
            return message


def test_two_editors_on_two_web_processes_share_the_room(committed_db: Any, tmp_path: Path) -> None:
    owner = make_caller()
    workflow_id = create(client_for(owner.user), [condition("first", "true")]).json()["id"]
    first, second = start_daphne(tmp_path), start_daphne(tmp_path)
    try:
        def room(server: Any) -> Any:
            return connect(f"{server.url.replace('http://', 'ws://')}/ws/workflows/{workflow_id}?token={owner.key}",
                           origin=server.url, open_timeout=20)

        with room(first) as alice, room(second) as bob:
            assert _next(alice, "connected")["data"]["version"] == 1
            assert _next(bob, "connected")["data"]["version"] == 1
            assert _next(alice, "user:join")["data"]["email"] == owner.user.email
            # idle longer than the channel layer's blocking pop (5 s): the sockets must stay open
            time.sleep(7)
            bob.send(json.dumps({"type": "block:add", "version": 1, "data": {"step": condition("second", "true", [0])}}))
            assert _next(bob, "ack")["data"]["version"] == 2
            seen = _next(alice, "block:add")
            assert seen["version"] == 2 and [s["name"] for s in seen["steps"]] == ["first", "second"]
            alice.send(json.dumps({"type": "block:delete", "version": 1, "data": {"index": 0}}))
            assert _next(alice, "conflict") == {"type": "conflict", "data": {"current_version": 2}}
    finally:
        stop_process(first.process)
        stop_process(second.process)
