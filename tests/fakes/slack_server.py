"""A loopback fake of the Slack Web API that the official `slack-sdk` talks to unchanged.

Point the SDK at it with `WebClient(token, base_url=server.url)` (Nexus: `SLACK_API_URL`). It speaks
Slack's wire format: `POST /api/<method>` with the token as `Authorization: Bearer xoxb-...`, a JSON or
form-encoded body, and answers HTTP 200 `{"ok": true, ...}` or `{"ok": false, "error": "<code>"}`
(`not_authed`, `invalid_auth`, `channel_not_found`, `no_text`), or 429 `ratelimited` with `Retry-After`.

Methods: `chat.postMessage` (channels by `#name` or id; the posted messages are kept in `messages`)
and `auth.test`. Set `rate_limited_for` to answer the next N calls with 429.

Run standalone: `python -m tests.fakes.slack_server --port 8298 --token xoxb-test`.
"""
from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from aiohttp import web

from .aiohttp_thread import ThreadedAiohttpServer

DEFAULT_CHANNELS = {"C0GENERAL01": "general", "C0RANDOM001": "random"}


class FakeSlack(ThreadedAiohttpServer):
    """Slack workspace state (channels, accepted bot tokens, posted messages) plus its HTTP server."""

    thread_name = "fake-slack"

    def __init__(self, *, tokens: tuple[str, ...] = ("xoxb-test-token",), channels: dict[str, str] | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.tokens = set(tokens)
        self.channels = dict(channels or DEFAULT_CHANNELS)
        self.host = host
        self.port = port
        self.lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.rate_limited_for = 0

    @property
    def url(self) -> str:
        """The Web API base URL (what slack-sdk calls `base_url`), with its trailing slash."""
        return f"http://{self.host}:{self.port}/api/"

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_post("/api/{method}", self.http_method)
        return app

    # ------------------------------------------------------------------ wire format
    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            body = await request.json()
            return body if isinstance(body, dict) else {}
        form = await request.post()
        return {key: str(value) for key, value in form.items()}

    @staticmethod
    def _token(request: web.Request, params: dict[str, Any]) -> str:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header.removeprefix("Bearer ").strip()
        return str(params.get("token") or "")

    async def http_method(self, request: web.Request) -> web.Response:
        """Every Web API method: auth first (as Slack does), then the method itself."""
        method = request.match_info["method"]
        params = await self._params(request)
        token = self._token(request, params)
        with self.lock:
            self.requests.append({"method": method, "params": params, "token": token})
            if self.rate_limited_for > 0:
                self.rate_limited_for -= 1
                return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "7"})
        if not token:
            return web.json_response({"ok": False, "error": "not_authed"})
        if token not in self.tokens:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method == "auth.test":
            return web.json_response({"ok": True, "url": "https://fake.slack.test/", "team": "Fake", "user": "nexus-bot",
                                      "team_id": "T0FAKE0001", "user_id": "U0BOT00001", "bot_id": "B0BOT00001"})
        if method == "chat.postMessage":
            return web.json_response(self.chat_post_message(params))
        return web.json_response({"ok": False, "error": "unknown_method"})

    def _channel_id(self, channel: str) -> str | None:
        if channel in self.channels:
            return channel
        name = channel.removeprefix("#")
        return next((cid for cid, cname in self.channels.items() if cname == name), None)

    def chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        """Slack's `chat.postMessage`: the channel must exist and the message needs text or blocks."""
        channel_id = self._channel_id(str(params.get("channel") or ""))
        if channel_id is None:
            return {"ok": False, "error": "channel_not_found"}
        text = params.get("text")
        if not text and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        ts = f"{time.time():.6f}"
        message = {"type": "message", "text": text, "user": "U0BOT00001", "bot_id": "B0BOT00001", "ts": ts}
        with self.lock:
            self.messages.append({**message, "channel": channel_id})
        return {"ok": True, "channel": channel_id, "ts": ts, "message": message}


def main() -> None:
    """Serve the fake until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8298)
    parser.add_argument("--token", action="append", default=[])
    args = parser.parse_args()
    fake = FakeSlack(tokens=tuple(args.token) or ("xoxb-test-token",), port=args.port).start()
    print(f"fake Slack Web API on {fake.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
