"""WebSockets through a live daphne with a real client: token auth, 4401/4404, and bounded JSON messages."""
from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from apps.accounts import services as accounts
from tests.factories import UserFactory

pytestmark = pytest.mark.live


@pytest.fixture(autouse=True)
def _seeded(transactional_db: Any) -> None:
    from apps.accounts.seeds import seed

    seed()  # tiers and roles: a transactional test flushes what migrations seeded


def _ws(server: Any, path: str, token: str | None = None) -> str:
    url = server.url.replace("http://", "ws://") + path
    return f"{url}?token={token}" if token else url


def _closed_with(url: str) -> int | None:
    try:
        with connect(url, open_timeout=10) as socket:
            socket.recv(timeout=10)
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    except Exception as exc:  # a refused handshake (closed before accept) is an HTTP 403 from daphne
        return getattr(getattr(exc, "response", None), "status_code", None)
    return None


def test_token_auth_echo_and_bounded_messages(daphne_server: Any, settings: Any) -> None:
    user = UserFactory()
    _key, raw = accounts.api_key_create(user=user, name="ws", scopes=["*"])
    with connect(_ws(daphne_server, "/ws/test/echo/room", raw), open_timeout=10) as socket:
        hello = json.loads(socket.recv(timeout=10))
        assert hello == {"type": "connected", "data": {"user": user.email}}
        socket.send(json.dumps({"type": "ping", "n": 1}))
        assert json.loads(socket.recv(timeout=10)) == {"type": "echo", "data": {"type": "ping", "n": 1}}
        bad = {
            "deep": "[" * 5000 + "]" * 5000,
            "large": json.dumps({"type": "big", "blob": "x" * (300 * 1024)}),
            "malformed": "{not json",
            "not an object": "[1, 2]",
            "no type": json.dumps({"n": 1}),
        }
        codes = {}
        for name, message in bad.items():
            socket.send(message)
            answer = json.loads(socket.recv(timeout=10))
            assert answer["type"] == "error", (name, answer)
            codes[name] = answer["data"]["code"]
        assert codes == {"deep": "VALIDATION_ERROR", "large": "PAYLOAD_TOO_LARGE", "malformed": "VALIDATION_ERROR",
                         "not an object": "VALIDATION_ERROR", "no type": "VALIDATION_ERROR"}
        socket.send(json.dumps({"type": "still", "open": True}))  # the connection survived every bad message
        assert json.loads(socket.recv(timeout=10))["type"] == "echo"


def test_connections_without_credentials_or_to_missing_things_are_refused(daphne_server: Any) -> None:
    user = UserFactory()
    _key, raw = accounts.api_key_create(user=user, name="ws", scopes=["*"])
    assert _closed_with(_ws(daphne_server, "/ws/test/echo/room")) == 4401
    assert _closed_with(_ws(daphne_server, "/ws/test/echo/room", "nxk_not_a_real_key")) == 4401
    assert _closed_with(_ws(daphne_server, "/ws/test/echo/missing", raw)) == 4404


def test_a_client_without_origin_is_let_through_and_a_foreign_origin_refused(transactional_db: Any, tmp_path: Any) -> None:
    from tests.conftest import start_daphne, stop_process

    server = start_daphne(tmp_path, DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost")
    try:
        user = UserFactory()
        _key, raw = accounts.api_key_create(user=user, name="ws", scopes=["*"])
        url = _ws(server, "/ws/test/echo/room", raw)
        with connect(url, open_timeout=10) as socket:  # no Origin header, like the SDK
            assert json.loads(socket.recv(timeout=10)) == {"type": "connected", "data": {"user": user.email}}
        with connect(url, open_timeout=10, origin="http://127.0.0.1") as socket:  # same-site browser page
            assert json.loads(socket.recv(timeout=10))["type"] == "connected"
        try:
            with connect(url, open_timeout=10, origin="http://evil.example") as socket:
                socket.recv(timeout=10)
            refused = None
        except Exception as exc:  # the handshake is refused with HTTP 403
            refused = getattr(getattr(exc, "response", None), "status_code", None)
        assert refused == 403
    finally:
        stop_process(server.process)
