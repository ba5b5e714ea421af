"""Calls to agents over A2A JSON-RPC with the official a2a-sdk client; the only module that imports its client.

Every connection goes through the outbound-URL guard (`core.outbound`): the host is resolved once,
checked, and the connection made to that address. Answers are turned into plain dicts (`AgentReply`)
so that nothing else in Nexus handles protobuf objects. `protocol_version` "0.3" speaks the v0.3
method names (`message/send`, `tasks/cancel`), "1.0" the v1.0 ones (`SendMessage`, `CancelTask`).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from a2a.client import ClientConfig, ClientFactory
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    TaskState,
)
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.struct_pb2 import Value

from apps.core.outbound import OutboundUrlRefused, outbound_async_client

STATE_TO_STATUS = {
    TaskState.TASK_STATE_SUBMITTED: "working",
    TaskState.TASK_STATE_WORKING: "working",
    TaskState.TASK_STATE_COMPLETED: "completed",
    TaskState.TASK_STATE_FAILED: "failed",
    TaskState.TASK_STATE_REJECTED: "failed",
    TaskState.TASK_STATE_CANCELED: "cancelled",
    TaskState.TASK_STATE_INPUT_REQUIRED: "input-required",
    TaskState.TASK_STATE_AUTH_REQUIRED: "input-required",
}


class AgentCallFailed(Exception):
    """The agent could not be reached or answered something that is not A2A (the task fails with the reason)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class AgentReply:
    """What an agent answered to one message, as plain data."""

    status: str
    remote_task_id: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)


def parts_to_proto(parts: list[dict[str, Any]]) -> list[Part]:
    """Nexus parts (`{kind: text, text}` / `{kind: data, data}`) as A2A parts."""
    result = []
    for part in parts:
        if part.get("kind") == "data":
            value = Value()
            ParseDict(part.get("data"), value)
            result.append(Part(data=value))
        else:
            result.append(Part(text=str(part.get("text", ""))))
    return result


def parts_from_proto(parts: Any) -> list[dict[str, Any]]:
    """A2A parts as Nexus parts (text, data, url, or a file's name and media type)."""
    result: list[dict[str, Any]] = []
    for part in parts:
        kind = part.WhichOneof("content")
        if kind == "text":
            result.append({"kind": "text", "text": part.text})
        elif kind == "data":
            result.append({"kind": "data", "data": MessageToDict(part.data)})
        elif kind == "url":
            result.append({"kind": "file", "url": part.url, "media_type": part.media_type, "filename": part.filename})
        elif kind == "raw":
            result.append({"kind": "file", "size": len(part.raw), "media_type": part.media_type, "filename": part.filename})
    return result


def _card_for(endpoint: str, protocol_version: str) -> AgentCard:
    return AgentCard(
        name="agent", description="", version="",
        supported_interfaces=[AgentInterface(url=endpoint, protocol_binding="JSONRPC", protocol_version=protocol_version)],
        capabilities=AgentCapabilities(streaming=False),
    )


def _client(endpoint: str, protocol_version: str, timeout: float) -> tuple[Any, Any]:
    http = outbound_async_client(field="endpoint", timeout=timeout, follow_redirects=False)
    factory = ClientFactory(ClientConfig(streaming=False, httpx_client=http))
    return factory.create(_card_for(endpoint, "0.3" if protocol_version.startswith("0.") else "1.0")), http


def _reply_of(response: Any) -> AgentReply:
    if response.HasField("message"):
        return AgentReply(status="completed", messages=[{"role": "agent", "parts": parts_from_proto(response.message.parts)}])
    task = response.task if response.HasField("task") else response
    reply = AgentReply(status=STATE_TO_STATUS.get(task.status.state, "working"), remote_task_id=task.id)
    if task.status.HasField("message") and task.status.message.parts:
        reply.messages.append({"role": "agent", "parts": parts_from_proto(task.status.message.parts)})
    for artifact in task.artifacts:
        reply.artifacts.append({"artifact_id": artifact.artifact_id or uuid.uuid4().hex, "name": artifact.name,
                                "parts": parts_from_proto(artifact.parts)})
    return reply


def _failure(exc: BaseException) -> AgentCallFailed:
    if isinstance(exc, OutboundUrlRefused):
        return AgentCallFailed("ENDPOINT_REFUSED", exc.message)
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OutboundUrlRefused):
        return AgentCallFailed("ENDPOINT_REFUSED", cause.message)
    return AgentCallFailed("AGENT_UNREACHABLE", f"The agent did not answer over A2A: {exc}"[:500])


async def message_send(*, endpoint: str, protocol_version: str, parts: list[dict[str, Any]], context_id: str,
                       remote_task_id: str = "", message_id: str = "", timeout: float = 60.0) -> AgentReply:
    """Send one user message (`message/send`) and return the agent's answer; AgentCallFailed when it cannot."""
    message = Message(message_id=message_id or uuid.uuid4().hex, context_id=context_id, role=Role.ROLE_USER, parts=parts_to_proto(parts))
    if remote_task_id:
        message.task_id = remote_task_id
    request = SendMessageRequest(message=message, configuration=SendMessageConfiguration(accepted_output_modes=["text/plain", "application/json"]))
    client, http = _client(endpoint, protocol_version, timeout)
    try:
        async for response in client.send_message(request):
            return _reply_of(response)
    except Exception as exc:  # SDK, httpx, guard and protocol errors of every kind end the call the same way
        raise _failure(exc) from exc
    finally:
        await client.close()
        await http.aclose()
    raise AgentCallFailed("AGENT_BAD_ANSWER", "The agent answered nothing.")


async def task_get(*, endpoint: str, protocol_version: str, remote_task_id: str, timeout: float = 30.0) -> AgentReply:
    """The agent's view of a task (`tasks/get`)."""
    client, http = _client(endpoint, protocol_version, timeout)
    try:
        return _reply_of(await client.get_task(GetTaskRequest(id=remote_task_id)))
    except Exception as exc:
        raise _failure(exc) from exc
    finally:
        await client.close()
        await http.aclose()


async def task_cancel(*, endpoint: str, protocol_version: str, remote_task_id: str, timeout: float = 10.0) -> bool:
    """Forward a cancel (`tasks/cancel`); False when the agent refused or could not be reached."""
    client, http = _client(endpoint, protocol_version, timeout)
    try:
        await client.cancel_task(CancelTaskRequest(id=remote_task_id))
        return True
    except Exception:
        return False
    finally:
        await client.close()
        await http.aclose()


def card_parse(raw: bytes) -> dict[str, Any]:
    """An A2A agent card (v1.0 or v0.3 JSON) as registry fields: name, description, endpoint, skills, protocol_version."""
    from a2a.client.card_resolver import parse_agent_card

    try:
        data = json.loads(raw)
        card = parse_agent_card(data)
    except Exception as exc:
        raise AgentCallFailed("CARD_INVALID", f"Not an A2A agent card: {exc}"[:300]) from exc
    interface = next((i for i in card.supported_interfaces if i.protocol_binding.upper() in ("JSONRPC", "JSON-RPC")), None)
    if interface is None:
        raise AgentCallFailed("CARD_INVALID", "The card offers no JSON-RPC interface.")
    return {
        "name": card.name, "description": card.description, "endpoint": interface.url,
        "protocol_version": "0.3" if interface.protocol_version.startswith("0.") else "1.0",
        "skills": [{"id": s.id, "name": s.name, "description": s.description, "tags": list(s.tags)} for s in card.skills],
    }
