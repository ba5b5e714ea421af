"""Forge through a live daphne with a real WebSocket client, a real Celery worker, and the scripted fake."""
from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from apps.core.streams import read_events
from apps.forge.selectors import build_stream_key
from tests.chat.conftest import make_caller

from .conftest import script_app

pytestmark = [pytest.mark.live, pytest.mark.worker]


def _ws(server: Any, path: str, token: str | None) -> str:
    url = server.url.replace("http://", "ws://") + path
    return f"{url}{'&' if '?' in url else '?'}token={token}" if token else url


def _close_code(url: str) -> int | None:
    try:
        with connect(url, open_timeout=10) as socket:
            socket.recv(timeout=10)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    return None


def test_a_real_client_watches_a_build_on_a_real_worker(forge_caller: Any, forge_model: Any, daphne_server: Any,
                                                        celery_worker: Any) -> None:
    script_app(forge_model)
    headers = {"Authorization": f"Bearer {forge_caller.key}"}
    started = httpx.post(f"{daphne_server.url}/api/v1/forge/builds", json={"prompt": "A to-do list #slow=0.01"}, headers=headers,
                         timeout=30)
    assert started.status_code == 202, started.text
    session = started.json()
    messages: list[dict[str, Any]] = []
    with connect(_ws(daphne_server, session["websocket_url"], forge_caller.key), open_timeout=10) as socket:
        hello = json.loads(socket.recv(timeout=10))
        assert hello["type"] == "connected" and hello["seq"] == 0 and hello["data"]["session_id"] == session["session_id"]
        try:
            while True:
                messages.append(json.loads(socket.recv(timeout=60)))
        except ConnectionClosed as exc:
            assert exc.rcvd is not None and exc.rcvd.code == 1000, daphne_server.log()  # the server closes once the build has ended
    assert messages[-1]["type"] == "build_completed", (messages[-1], celery_worker.log())
    stored = read_events(build_stream_key(session["session_id"]))
    assert [m["seq"] for m in messages] == [e.id for e in stored] == list(range(1, len(stored) + 1))
    assert [{"type": m["type"], "data": m["data"]} for m in messages] == [e.data for e in stored]

    # Refused: no credentials 4401, someone else's build 4404.
    assert _close_code(_ws(daphne_server, session["websocket_url"], None)) == 4401
    assert _close_code(_ws(daphne_server, session["websocket_url"], make_caller().key)) == 4404

    # The deployed preview through daphne, with its CSP.
    url = messages[-1]["data"]["deployment_url"]
    page = httpx.get(daphne_server.url + "/" + url.split("/", 3)[3], timeout=10)
    assert page.status_code == 200 and "sandbox" in page.headers["content-security-policy"]
    assert "set-cookie" not in page.headers
