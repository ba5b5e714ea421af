"""The platform's own A2A side: the JSON-RPC gateway (`POST /api/v1/a2a`) and the agent cards, on a2a-sdk's types.

A message that reaches the gateway becomes a Nexus task of the caller, sent to the agent named by
`metadata.agent_id` (of the message or of the request) or, without one, to the best match of its
text in discovery. A message that names an input-required task of the caller (`taskId`) is the
reply to it. Tasks answer in the A2A shape of the method's version: v0.3 (`message/send`,
`message/stream`, `tasks/get`, `tasks/cancel`) as the v0.3 JSON objects, v1.0 (`SendMessage`,
`SendStreamingMessage`, `GetTask`, `CancelTask`) as the v1.0 protobuf JSON.
"""
from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from a2a.compat.v0_3 import conversions
from a2a.compat.v0_3 import types as types_v03
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentProvider,
    AgentSkill,
    APIKeySecurityScheme,
    Artifact,
    CancelTaskRequest,
    GetTaskRequest,
    HTTPAuthSecurityScheme,
    Message,
    Role,
    SecurityRequirement,
    SecurityScheme,
    SendMessageRequest,
    SendMessageResponse,
    StreamResponse,
    StringList,
    TaskState,
)
from a2a.types.a2a_pb2 import Task as A2ATask
from a2a.types.a2a_pb2 import TaskStatus as A2ATaskStatus
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from google.protobuf.json_format import MessageToDict, ParseDict, ParseError

from apps.core.errors import ApplicationError, NotFound

from . import services
from .a2a_client import parts_from_proto, parts_to_proto
from .errors import TaskFinished
from .models import Agent, Task, TaskStatus, Visibility
from .selectors import agent_discover, agent_get, task_list

if TYPE_CHECKING:
    from apps.accounts.models import User

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL_ERROR = -32700, -32600, -32601, -32602, -32603
TASK_NOT_FOUND, TASK_NOT_CANCELABLE = -32001, -32002
V03_METHODS = {"message/send": "send", "message/stream": "stream", "tasks/get": "get", "tasks/cancel": "cancel"}
V10_METHODS = {"SendMessage": "send", "SendStreamingMessage": "stream", "GetTask": "get", "CancelTask": "cancel"}
STATUS_TO_STATE: dict[str, Any] = {
    TaskStatus.SUBMITTED: TaskState.TASK_STATE_SUBMITTED, TaskStatus.WORKING: TaskState.TASK_STATE_WORKING,
    TaskStatus.INPUT_REQUIRED: TaskState.TASK_STATE_INPUT_REQUIRED, TaskStatus.COMPLETED: TaskState.TASK_STATE_COMPLETED,
    TaskStatus.FAILED: TaskState.TASK_STATE_FAILED, TaskStatus.CANCELLED: TaskState.TASK_STATE_CANCELED,
    TaskStatus.TIMED_OUT: TaskState.TASK_STATE_FAILED,
}
SETTLED = (TaskStatus.INPUT_REQUIRED, TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.TIMED_OUT)
CARD_SKILLS_MAX = 200


class RpcError(Exception):
    """A JSON-RPC error to answer (HTTP 200, `{"jsonrpc": "2.0", "id", "error": {code, message, data?}}`)."""

    def __init__(self, code: int, message: str, *, request_id: Any = None, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.data = data

    def body(self) -> dict[str, Any]:
        """The JSON-RPC error response."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return {"jsonrpc": "2.0", "id": self.request_id, "error": error}


def rpc_parse(raw: bytes) -> tuple[Any, str, str, dict[str, Any]]:
    """(id, operation send|stream|get|cancel, version "0.3"|"1.0", params) of a JSON-RPC request, else RpcError."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise RpcError(PARSE_ERROR, "Parse error: the body is not JSON.") from None
    if not isinstance(body, dict):
        raise RpcError(INVALID_REQUEST, "Invalid request: a JSON-RPC request is an object (batches are not supported).")
    request_id = body.get("id")
    if not isinstance(request_id, str | int) or isinstance(request_id, bool):
        request_id = None
    if body.get("jsonrpc") != "2.0" or not isinstance(body.get("method"), str) or "id" not in body:
        raise RpcError(INVALID_REQUEST, "Invalid request: needs jsonrpc \"2.0\", a method and an id.", request_id=request_id)
    method = body["method"]
    if method in V03_METHODS:
        operation, version = V03_METHODS[method], "0.3"
    elif method in V10_METHODS:
        operation, version = V10_METHODS[method], "1.0"
    else:
        raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method}.", request_id=request_id)
    params = body.get("params")
    if not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "Invalid params: an object is required.", request_id=request_id)
    return request_id, operation, version, params


def _invalid(request_id: Any, exc: Exception) -> RpcError:
    return RpcError(INVALID_PARAMS, f"Invalid params: {exc}"[:500], request_id=request_id)


def _send_params(params: dict[str, Any], version: str, request_id: Any) -> tuple[Message, dict[str, Any], bool]:
    """The message, the request's metadata, and whether to answer at once (non-blocking)."""
    try:
        if version == "0.3":
            compat = types_v03.MessageSendParams.model_validate(params)
            message = conversions.to_core_message(compat.message)
            metadata = dict(compat.metadata or {})
            at_once = bool(compat.configuration and compat.configuration.blocking is False)
        else:
            request = ParseDict(params, SendMessageRequest(), ignore_unknown_fields=True)
            message = request.message
            metadata = MessageToDict(request.metadata) if request.HasField("metadata") else {}
            at_once = request.configuration.return_immediately
    except (ValueError, ParseError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        raise _invalid(request_id, exc) from None
    if not message.parts:
        raise RpcError(INVALID_PARAMS, "Invalid params: the message has no parts.", request_id=request_id)
    return message, metadata, at_once


def _task_id_param(params: dict[str, Any], version: str, operation: str, request_id: Any) -> str:
    try:
        if version == "0.3":
            return str(types_v03.TaskIdParams.model_validate(params).id if operation == "cancel"
                       else types_v03.TaskQueryParams.model_validate(params).id)
        request: Any = CancelTaskRequest() if operation == "cancel" else GetTaskRequest()
        return str(ParseDict(params, request, ignore_unknown_fields=True).id)
    except (ValueError, ParseError, TypeError) as exc:
        raise _invalid(request_id, exc) from None


def _caller_task(user: User, task_id: str, request_id: Any) -> Task:
    try:
        return task_list(user=user).filter(requester_id=user.pk).prefetch_related("messages", "artifacts").get(pk=task_id)
    except (Task.DoesNotExist, ValueError, DjangoValidationError):  # unknown, or not an id at all
        raise RpcError(TASK_NOT_FOUND, "Task not found.", request_id=request_id) from None


def _route(user: User, message: Message, metadata: dict[str, Any], request_id: Any) -> Agent:
    message_metadata = MessageToDict(message.metadata) if message.HasField("metadata") else {}
    agent_id = message_metadata.get("agent_id") or metadata.get("agent_id")
    if agent_id:
        try:
            return agent_get(user=user, agent_id=agent_id)
        except NotFound:
            raise RpcError(INVALID_PARAMS, "Invalid params: metadata.agent_id names no agent you can use.", request_id=request_id) from None
    text = " ".join(part.text for part in message.parts if part.WhichOneof("content") == "text")[:500]
    best = agent_discover(user=user, query=text).exclude(status="offline").first() or agent_discover(user=user, query=text).first()
    if best is None:
        raise RpcError(INVALID_PARAMS, "Invalid params: no agent matches this message; name one in metadata.agent_id.", request_id=request_id)
    return best


def _wait(task: Task, seconds: float) -> Task:
    """Wait (polling) until the task needs the caller or has ended, at most `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        task.refresh_from_db(fields=["status", "error", "remote_task_id", "finished_at"])
        if task.status in SETTLED:
            break
        time.sleep(0.2)
    return Task.objects.prefetch_related("messages", "artifacts").get(pk=task.pk)


def task_to_a2a(task: Task) -> A2ATask:
    """A Nexus task as an A2A Task (its id is the Nexus task id)."""
    history = [Message(message_id=str(m.pk), context_id=str(task.pk), task_id=str(task.pk),
                       role=Role.ROLE_USER if m.role == "user" else Role.ROLE_AGENT, parts=parts_to_proto(m.parts))
               for m in task.messages.all()]
    status = A2ATaskStatus(state=STATUS_TO_STATE.get(task.status, TaskState.TASK_STATE_UNSPECIFIED))
    agent_messages = [m for m in history if m.role == Role.ROLE_AGENT]
    if agent_messages:
        status.message.CopyFrom(agent_messages[-1])
    elif task.error:
        status.message.CopyFrom(Message(message_id=f"{task.pk}-error", context_id=str(task.pk), task_id=str(task.pk), role=Role.ROLE_AGENT,
                                        parts=parts_to_proto([{"kind": "text", "text": str(task.error.get("message", ""))}])))
    artifacts = [Artifact(artifact_id=a.artifact_id, name=a.name, parts=parts_to_proto(a.parts)) for a in task.artifacts.all()]
    return A2ATask(id=str(task.pk), context_id=str(task.pk), status=status, history=history, artifacts=artifacts)


def task_result(task: Task, version: str, *, operation: str) -> dict[str, Any]:
    """The JSON-RPC `result` for a task in the method's version."""
    proto = task_to_a2a(task)
    if version == "0.3":
        return conversions.to_compat_task(proto).model_dump(mode="json", by_alias=True, exclude_none=True)
    if operation == "send":
        return MessageToDict(SendMessageResponse(task=proto))
    if operation == "stream":
        return MessageToDict(StreamResponse(task=proto))
    return MessageToDict(proto)


def rpc_handle(*, user: User, request_id: Any, operation: str, version: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one non-streaming JSON-RPC call for the caller; returns the JSON-RPC response body."""
    try:
        if operation in ("send", "stream"):
            task, _ = message_accept(user=user, params=params, version=version, request_id=request_id, wait=operation == "send")
        elif operation == "get":
            task = _caller_task(user, _task_id_param(params, version, operation, request_id), request_id)
        else:
            task = _caller_task(user, _task_id_param(params, version, operation, request_id), request_id)
            try:
                services.task_cancel(task=task)
            except TaskFinished:
                raise RpcError(TASK_NOT_CANCELABLE, "Task cannot be canceled: it has ended.", request_id=request_id) from None
            task = _caller_task(user, str(task.pk), request_id)
    except ApplicationError as exc:
        raise RpcError(INVALID_PARAMS if exc.status_code == 400 else INTERNAL_ERROR, exc.message, request_id=request_id,
                       data={"code": exc.code, "details": exc.details}) from None
    return {"jsonrpc": "2.0", "id": request_id, "result": task_result(task, version, operation=operation)}


def message_accept(*, user: User, params: dict[str, Any], version: str, request_id: Any, wait: bool) -> tuple[Task, bool]:
    """Turn an A2A message into a task of the caller (or the reply to one); waits for it when `wait`. Returns (task, new)."""
    message, metadata, at_once = _send_params(params, version, request_id)
    parts = parts_from_proto(message.parts)
    if message.task_id:
        task = _caller_task(user, message.task_id, request_id)
        try:
            task = services.task_reply(task=task, parts=parts)
        except TaskFinished:
            raise RpcError(TASK_NOT_CANCELABLE, "The task takes no reply: it is not waiting for input.", request_id=request_id) from None
        new = False
    else:
        agent = _route(user, message, metadata, request_id)
        text = " ".join(p["text"] for p in parts if p.get("kind") == "text")
        data = next((p["data"] for p in parts if p.get("kind") == "data"), None)
        task = services.task_submit(user=user, agent=agent, title=text[:80] or "A2A message", description=text, input=data)
        new = True
    if wait and not at_once:
        task = _wait(task, settings.AGENTS_GATEWAY_WAIT_SECONDS)
    else:
        task = Task.objects.prefetch_related("messages", "artifacts").get(pk=task.pk)
    return task, new


def task_snapshot(task_id: Any, version: str) -> tuple[tuple[str, int, int], dict[str, Any], bool]:
    """(what changed, the stream `result` for the task now, whether it needs the caller or has ended)."""
    current = Task.objects.prefetch_related("messages", "artifacts").get(pk=task_id)
    state = (current.status, len(current.messages.all()), len(current.artifacts.all()))
    return state, task_result(current, version, operation="stream"), current.status in SETTLED


def stream_limit_seconds(task: Task) -> float:
    """How long a message/stream follows a task at most (past its timeout, the reaper ends it)."""
    return max(float(task.timeout_seconds), settings.AGENTS_GATEWAY_WAIT_SECONDS) + 2 * settings.AGENTS_TASK_STALE_SECONDS


# ------------------------------------------------------------------------------
# The platform's agent card
# ------------------------------------------------------------------------------
def platform_card(*, base_url: str) -> AgentCard:
    """Nexus as an A2A agent (v1.0 card): the gateway's interfaces, the nxk_ key it needs, skills of public agents."""
    from .models import Skill

    skills = []
    public = Skill.objects.filter(agent__visibility=Visibility.PUBLIC).select_related("agent").order_by("-agent__trust_score", "agent_id", "order")
    for skill in public[:CARD_SKILLS_MAX]:
        skills.append(AgentSkill(id=f"{skill.agent_id}:{skill.skill_id}", name=skill.name or skill.skill_id,
                                 description=skill.description or f"{skill.name} by {skill.agent.name}", tags=skill.tags or ["agent"]))
    url = f"{base_url.rstrip('/')}/api/v1/a2a"
    return AgentCard(
        name="Nexus", description="Nexus routes A2A messages to the agents registered on it, as tasks of the caller (credits are charged).",
        version=settings.NEXUS_VERSION, provider=AgentProvider(organization="Nexus", url=base_url),
        supported_interfaces=[AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0"),
                              AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="0.3")],
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=["text/plain", "application/json"], default_output_modes=["text/plain", "application/json"],
        security_schemes={
            "nxk_bearer": SecurityScheme(http_auth_security_scheme=HTTPAuthSecurityScheme(
                scheme="bearer", bearer_format="nxk_ API key", description="A Nexus API key with the `agents` scope.")),
            "nxk_header": SecurityScheme(api_key_security_scheme=APIKeySecurityScheme(
                location="header", name="x-api-key", description="A Nexus API key with the `agents` scope.")),
        },
        security_requirements=[SecurityRequirement(schemes={"nxk_bearer": StringList()}),
                               SecurityRequirement(schemes={"nxk_header": StringList()})],
        skills=skills,
    )


def platform_card_json(*, base_url: str, version: str) -> dict[str, Any]:
    """The card as JSON: v1.0 (`/.well-known/agent-card.json`) or v0.3 (`/.well-known/agent.json`)."""
    card = platform_card(base_url=base_url)
    if version == "0.3":
        return conversions.to_compat_agent_card(card).model_dump(mode="json", by_alias=True, exclude_none=True)
    return MessageToDict(card)
