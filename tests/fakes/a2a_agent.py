"""A loopback A2A agent built on the official a2a-sdk server (JSON-RPC, v1.0 and v0.3 on one endpoint).

Behaviour is chosen by directives anywhere in the text of the message it receives:

    (none)        complete: an artifact `result` echoing the text and a closing agent message
    #input        ask for input first (input-required); the reply to it completes the task
    #fail         end `failed` with an agent message saying why
    #hang         never answer (the caller must time out or cancel)
    #slow=N       work N seconds, then complete

It also serves its agent card at /.well-known/agent-card.json, and records every message and
cancel it received (`received`, `cancelled`). Run standalone:
`python -m tests.fakes.a2a_agent --port 8299`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import threading
import time
from typing import Any

import uvicorn
from a2a.helpers.proto_helpers import get_message_text, new_text_artifact, new_text_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentInterface, AgentSkill, Role, Task, TaskState, TaskStatus
from starlette.applications import Starlette


class FakeExecutor(AgentExecutor):
    """Acts on the directives of the message text."""

    def __init__(self, server: FakeA2AAgent) -> None:
        self.server = server

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        text = get_message_text(message) if message is not None else ""
        self.server.received.append({"text": text, "task_id": context.task_id, "context_id": context.context_id})
        task_id, context_id = context.task_id or "", context.context_id or ""
        if context.current_task is None:
            await event_queue.enqueue_event(Task(id=task_id, context_id=context_id, status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED),
                                                 history=[message] if message is not None else []))
        updater = TaskUpdater(event_queue, task_id, context_id)
        await updater.start_work()
        first_turn = context.current_task is None or context.current_task.status.state != TaskState.TASK_STATE_INPUT_REQUIRED
        if "#hang" in text:
            await asyncio.sleep(3600)
            return
        slow = re.search(r"#slow=([0-9.]+)", text)
        if slow:
            await asyncio.sleep(float(slow.group(1)))
        if "#fail" in text:
            await updater.failed(updater.new_agent_message([new_text_message("The fake agent failed on purpose.").parts[0]]))
            return
        if "#input" in text and first_turn:
            await updater.requires_input(updater.new_agent_message([new_text_message("Which language should I answer in?").parts[0]]))
            return
        await updater.add_artifact([new_text_artifact(name="result", text=f"Done: {text}").parts[0]], name="result")
        await updater.complete(updater.new_agent_message([new_text_message(f"Finished: {text[:80]}").parts[0]]))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        self.server.cancelled.append(context.task_id or "")
        updater = TaskUpdater(event_queue, context.task_id or "", context.context_id or "")
        await updater.cancel()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeA2AAgent:
    """The fake agent on a loopback port, served by uvicorn in a thread."""

    def __init__(self, *, port: int | None = None, name: str = "Fake agent") -> None:
        self.port = port or _free_port()
        self.name = name
        self.received: list[dict[str, Any]] = []
        self.cancelled: list[str] = []
        self.methods: list[str | None] = []  # JSON-RPC method of every POST, in order
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The JSON-RPC endpoint."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def card_url(self) -> str:
        """Where the agent card is served."""
        return f"http://127.0.0.1:{self.port}/.well-known/agent-card.json"

    def card(self) -> AgentCard:
        """The agent's card (v1.0)."""
        return AgentCard(
            name=self.name, description="Echoes, asks for input, fails or hangs on request.", version="1.0.0",
            supported_interfaces=[AgentInterface(url=self.url, protocol_binding="JSONRPC", protocol_version="1.0")],
            capabilities=AgentCapabilities(streaming=False), default_input_modes=["text/plain"], default_output_modes=["text/plain"],
            skills=[AgentSkill(id="echo", name="Echo", description="Repeats the text it was given.", tags=["echo", "text"])],
        )

    def app(self) -> Any:
        """The Starlette app: JSON-RPC at / (v1.0 and v0.3 method names) and the card; JSON-RPC methods are recorded."""
        card = self.card()
        handler = DefaultRequestHandler(agent_executor=FakeExecutor(self), task_store=InMemoryTaskStore(), agent_card=card)
        routes = [*create_jsonrpc_routes(handler, "/", enable_v0_3_compat=True), *create_agent_card_routes(card)]
        inner = Starlette(routes=routes)

        async def recording(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http" or scope["method"] != "POST":
                await inner(scope, receive, send)
                return
            messages, body, more = [], b"", True
            while more:
                message = await receive()
                messages.append(message)
                body += message.get("body", b"")
                more = message.get("more_body", False)
            try:
                self.methods.append(json.loads(body).get("method"))
            except (ValueError, AttributeError):
                self.methods.append(None)

            async def replay() -> Any:
                return messages.pop(0) if messages else await receive()

            await inner(scope, replay, send)

        return recording

    def clear(self) -> None:
        """Forget what was received."""
        self.received.clear()
        self.cancelled.clear()
        self.methods.clear()

    def start(self) -> FakeA2AAgent:
        """Serve in a background thread until stop()."""
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="fake-a2a-agent")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop serving (open connections are dropped)."""
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)


def main() -> None:  # pragma: no cover - manual use
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8299)
    args = parser.parse_args()
    FakeA2AAgent(port=args.port).start()
    print(f"fake A2A agent on http://127.0.0.1:{args.port}/")
    while True:
        time.sleep(3600)


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["FakeA2AAgent", "Role"]
