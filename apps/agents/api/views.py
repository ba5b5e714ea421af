"""Agents API: agents (CRUD, import from a card), discover, heartbeat, agent keys, tasks (+ cancel, reply, SSE), trust."""
from __future__ import annotations

import asyncio
import json
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from apps.accounts.caller import request_user
from apps.accounts.models import ApiKey
from apps.accounts.permissions import HasTool
from apps.core.db import db_sync_to_async
from apps.core.errors import NotFound, Unauthorized, ValidationError
from apps.core.openapi import error_responses
from apps.core.pagination import LimitOffsetPagination
from apps.core.selectors import get_or_404
from apps.core.sse import PREAMBLE, sse_response, sse_run_response
from apps.core.viewsets import ScopedModelViewSet

from .. import gateway, selectors, services
from ..models import AgentApiKey, AgentStatus
from ..trust import trust_components
from .authentication import AgentKeyAuthentication
from .serializers import (
    AgentKeyCreatedSerializer,
    AgentKeyCreateSerializer,
    AgentKeySerializer,
    AgentSerializer,
    AgentWriteSerializer,
    HeartbeatOutputSerializer,
    HeartbeatSerializer,
    RateSerializer,
    RatingSerializer,
    TaskCreateSerializer,
    TaskListSerializer,
    TaskReplySerializer,
    TaskSerializer,
    TrustEventSerializer,
    TrustSerializer,
)

SSE_RESPONSE = OpenApiResponse(description="Server-Sent Events (text/event-stream): `id:`, `event: status|message|artifact|complete`, one JSON `data:` line.")
# DRF calls each entry of permission_classes; a HasTool returns itself, so it stands where a class is expected.
TOOL: type[BasePermission] = HasTool("agents")  # type: ignore[assignment]


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ValidationError("The body must be a JSON object.")
    return request.data


def _valid(serializer_class: Any, request: Request, **kwargs: Any) -> dict[str, Any]:
    serializer = serializer_class(data=_body(request), **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _agent_data(validated: dict[str, Any]) -> dict[str, Any]:
    data = dict(validated)
    if "skills" in data:
        data["skills"] = [dict(skill) for skill in data["skills"]]
    if "workspace_id" in data and data["workspace_id"] is not None:
        data["workspace_id"] = str(data["workspace_id"])
    return data


class AgentViewSet(ScopedModelViewSet):
    """Agents the caller may see: their own, their workspaces', and public ones; writes by the owner only."""

    permission_classes = [TOOL]
    required_scope = "agents"
    serializer_class = AgentSerializer

    def get_queryset(self) -> Any:
        return selectors.agent_list(user=request_user(self.request), mine=self.request.query_params.get("mine") in ("1", "true"))

    @extend_schema(parameters=[OpenApiParameter("mine", bool)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=AgentWriteSerializer, responses={201: AgentSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = _agent_data(_valid(AgentWriteSerializer, request))
        user = request_user(request)
        if data.get("card_url"):
            agent = services.agent_import(user=user, card_url=data.pop("card_url"), data=data)
        else:
            agent = services.agent_create(user=user, data=data)
        return Response(AgentSerializer(selectors.agent_get(user=user, agent_id=agent.pk), context={"request": request}).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=AgentWriteSerializer, responses={200: AgentSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = request_user(request)
        agent = selectors.agent_get_for_write(user=user, agent_id=kwargs["pk"])
        data = _agent_data(_valid(AgentWriteSerializer, request, partial=True))
        data.pop("card_url", None)
        agent = services.agent_update(user=user, agent=agent, data=data)
        return Response(AgentSerializer(selectors.agent_get(user=user, agent_id=agent.pk), context={"request": request}).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.agent_delete(agent=selectors.agent_get_for_write(user=request_user(request), agent_id=kwargs["pk"]))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DiscoverApi(ListAPIView):
    """Find agents: `?q=&skill_tags=a,b&match=any|all&category=&min_trust_score=&status=`, ranked by trust and fit."""

    permission_classes = [TOOL]
    required_scope = "agents"
    serializer_class = AgentSerializer
    pagination_class = LimitOffsetPagination

    def get_queryset(self) -> Any:
        params = self.request.query_params
        raw_score = params.get("min_trust_score") or ""
        try:
            min_score = float(raw_score) if raw_score else None
        except ValueError:
            raise ValidationError("Bad min_trust_score.", details={"min_trust_score": ["A number from 0 to 100."]}) from None
        state = params.get("status") or ""
        if state and state not in AgentStatus.values:
            raise ValidationError("Bad status.", details={"status": ["online, offline or degraded."]})
        tags = [t.strip() for t in (params.get("skill_tags") or "").split(",") if t.strip()]
        return selectors.agent_discover(user=request_user(self.request), query=(params.get("q") or params.get("search") or "")[:500],
                                        skill_tags=tags, match_all=params.get("match") == "all", category=params.get("category") or "",
                                        min_trust_score=min_score, status=state)

    @extend_schema(operation_id="agents_discover", parameters=[
        OpenApiParameter("q", str), OpenApiParameter("skill_tags", str), OpenApiParameter("match", str, enum=["any", "all"]),
        OpenApiParameter("category", str), OpenApiParameter("min_trust_score", float),
        OpenApiParameter("status", str, enum=AgentStatus.values)])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class AgentHeartbeatApi(APIView):
    """An agent's heartbeat, sent with one of its `nxa_` keys (`X-Agent-Key`) or by its owner."""

    authentication_classes = [AgentKeyAuthentication, *api_settings.DEFAULT_AUTHENTICATION_CLASSES]  # type: ignore[list-item]  # classes once DRF imported them
    permission_classes = [TOOL]
    required_scope = "agents"

    @extend_schema(operation_id="agents_heartbeat", request=HeartbeatSerializer, responses={200: HeartbeatOutputSerializer})
    def post(self, request: Request, pk: str) -> Response:
        data = _valid(HeartbeatSerializer, request)
        if isinstance(request.auth, AgentApiKey):
            if str(request.auth.agent_id) != str(pk):
                raise NotFound("Agent not found.")
            agent = request.auth.agent
        else:
            agent = selectors.agent_get_for_write(user=request_user(request), agent_id=pk)
        agent = services.agent_heartbeat(agent=agent, status=data.get("status"), metadata=data.get("metadata"))
        return Response({"agent_id": str(agent.pk), "status": agent.status, "last_heartbeat_at": agent.last_heartbeat_at})


class AgentKeyListApi(APIView):
    """The agent's keys (writers only); POST makes one and shows its secret once."""

    permission_classes = [TOOL]
    required_scope = "agents"

    @extend_schema(operation_id="agents_keys_list", responses={200: AgentKeySerializer(many=True)})
    def get(self, request: Request, pk: str) -> Response:
        agent = selectors.agent_get_for_write(user=request_user(request), agent_id=pk)
        return Response(AgentKeySerializer(selectors.agent_key_list(agent=agent), many=True).data)

    @extend_schema(operation_id="agents_keys_create", request=AgentKeyCreateSerializer, responses={201: AgentKeyCreatedSerializer})
    def post(self, request: Request, pk: str) -> Response:
        agent = selectors.agent_get_for_write(user=request_user(request), agent_id=pk)
        data = _valid(AgentKeyCreateSerializer, request)
        key, raw = services.agent_key_create(agent=agent, name=data.get("name") or "")
        body = AgentKeySerializer(key).data
        body["key"] = raw
        return Response(body, status=status.HTTP_201_CREATED)


class AgentKeyDeleteApi(APIView):
    """Revoke one of the agent's keys."""

    permission_classes = [TOOL]
    required_scope = "agents"

    @extend_schema(operation_id="agents_keys_revoke", responses={204: None})
    def delete(self, request: Request, pk: str, key_id: str) -> Response:
        agent = selectors.agent_get_for_write(user=request_user(request), agent_id=pk)
        services.agent_key_revoke(key=get_or_404(selectors.agent_key_list(agent=agent), "Key not found.", pk=key_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TaskListApi(ListAPIView):
    """Tasks the caller sent (and those sent to their agents); POST sends one to an agent (202)."""

    permission_classes = [TOOL]
    required_scope = "agents"
    serializer_class = TaskListSerializer
    pagination_class = LimitOffsetPagination

    def get_queryset(self) -> Any:
        params = self.request.query_params
        return selectors.task_list(user=request_user(self.request), agent_id=params.get("agent_id") or None, status=params.get("status") or "")

    @extend_schema(operation_id="agents_tasks_list", parameters=[OpenApiParameter("agent_id", str), OpenApiParameter("status", str)])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        agent_id = request.query_params.get("agent_id")
        if agent_id:
            selectors.agent_get(user=request_user(request), agent_id=agent_id)
        return super().get(request, *args, **kwargs)

    @extend_schema(operation_id="agents_tasks_create", request=TaskCreateSerializer, responses={202: TaskSerializer, **error_responses(402)})
    def post(self, request: Request) -> Response:
        data = _valid(TaskCreateSerializer, request)
        user = request_user(request)
        agent = selectors.agent_get(user=user, agent_id=data["assigned_agent_id"])
        task = services.task_submit(user=user, agent=agent, title=data.get("title") or "", description=data.get("description") or "",
                                    input=data.get("input"), timeout_seconds=data.get("timeout_seconds"))
        return Response(TaskSerializer(selectors.task_get(user=user, task_id=task.pk)).data, status=status.HTTP_202_ACCEPTED)


class TaskDetailApi(APIView):
    """A task with its messages and artifacts."""

    permission_classes = [TOOL]
    required_scope = "agents"

    @extend_schema(operation_id="agents_tasks_get", responses={200: TaskSerializer})
    def get(self, request: Request, pk: str) -> Response:
        return Response(TaskSerializer(selectors.task_get(user=request_user(request), task_id=pk)).data)


class TaskCancelApi(APIView):
    """Cancel a task that has not ended: its hold is released and the agent told (`tasks/cancel`)."""

    permission_classes = [TOOL]
    required_scope = "agents"

    @extend_schema(operation_id="agents_tasks_cancel", request=None, responses={200: TaskSerializer, **error_responses(409)})
    def post(self, request: Request, pk: str) -> Response:
        user = request_user(request)
        task = services.task_cancel(task=selectors.task_get_as_requester(user=user, task_id=pk))
        return Response(TaskSerializer(selectors.task_get(user=user, task_id=task.pk)).data)


def _parts(raw: Any, key: str) -> list[dict[str, Any]]:
    """Parts as Nexus stores them, from `{kind: text, text}` / `{kind: data, data}` or the `{type, data}` spelling."""
    if not isinstance(raw, list) or not raw or len(raw) > 50:
        raise ValidationError("Bad parts.", details={key: ["A list of 1-50 parts."]})
    parts: list[dict[str, Any]] = []
    for part in raw:
        kind = part.get("kind") or part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text", part.get("data")), str):
            parts.append({"kind": "text", "text": part.get("text", part.get("data"))})
        elif kind == "data" and isinstance(part.get("data"), dict | list):
            parts.append({"kind": "data", "data": part["data"]})
        else:
            raise ValidationError("Bad part.", details={key: ["Each part is {kind: text, text} or {kind: data, data}."]})
    return parts


def _message_parts(message: Any) -> list[dict[str, Any]]:
    if message in (None, ""):
        return []
    if isinstance(message, str):
        return [{"kind": "text", "text": message}]
    if isinstance(message, dict):
        return _parts(message.get("parts"), "message.parts")
    raise ValidationError("Bad message.", details={"message": ["Text, or {role?, parts}."]})


class TaskReplyApi(APIView):
    """A reply to a task: the requester answers an input-required task (forwarded to the agent as the next
    turn), or the agent itself, with one of its `nxa_` keys (`X-Agent-Key`), reports messages, artifacts and status."""

    authentication_classes = [AgentKeyAuthentication, *api_settings.DEFAULT_AUTHENTICATION_CLASSES]  # type: ignore[list-item]  # classes once DRF imported them
    permission_classes = [TOOL]
    required_scope = "agents"

    @extend_schema(operation_id="agents_tasks_reply", request=TaskReplySerializer, responses={202: TaskSerializer, **error_responses(409)})
    def post(self, request: Request, pk: str) -> Response:
        data = _valid(TaskReplySerializer, request)
        parts = _message_parts(data.get("message"))
        if isinstance(request.auth, AgentApiKey):
            task = selectors.task_get_for_agent(agent_id=request.auth.agent_id, task_id=pk)
            artifacts = [{"artifact_id": str(a.get("artifact_id") or a.get("name") or f"artifact-{n}"), "name": str(a.get("name") or ""),
                          "parts": _parts(a.get("parts"), f"artifacts[{n}].parts")} for n, a in enumerate(data.get("artifacts") or [])]
            if not parts and not artifacts and not data.get("status"):
                raise ValidationError("Say something.", details={"message": ["A message, artifacts or a status is required."]})
            task = services.task_agent_report(task=task, parts=parts, artifacts=artifacts, status=data.get("status"))
            return Response(TaskSerializer(selectors.task_get_for_agent(agent_id=request.auth.agent_id, task_id=task.pk)).data,
                            status=status.HTTP_202_ACCEPTED)
        user = request_user(request)
        task = selectors.task_get_as_requester(user=user, task_id=pk)
        if data.get("data"):
            parts.append({"kind": "data", "data": data["data"]})
        if not parts:
            raise ValidationError("Say something.", details={"message": ["A message or data is required."]})
        task = services.task_reply(task=task, parts=parts)
        return Response(TaskSerializer(selectors.task_get(user=user, task_id=task.pk)).data, status=status.HTTP_202_ACCEPTED)


class TaskStreamApi(APIView):
    """A task's events as SSE: replays after Last-Event-ID, then follows live until the task ends."""

    permission_classes = [TOOL]
    required_scope = "agents"

    @extend_schema(operation_id="agents_tasks_stream", responses={200: SSE_RESPONSE})
    def get(self, request: Request, pk: str) -> Any:
        task = selectors.task_get(user=request_user(request), task_id=pk)
        services.task_stream_restore(task=task)
        return sse_run_response(request._request, selectors.task_stream_key(task.pk), named=True, headers={"X-Task-Id": str(task.pk)})


class TrustApi(APIView):
    """An agent's trust score, its components and recent events."""

    permission_classes = [TOOL]
    required_scope = "agents"

    @extend_schema(operation_id="agents_trust", responses={200: TrustSerializer})
    def get(self, request: Request, agent_id: str) -> Response:
        agent = selectors.agent_get(user=request_user(request), agent_id=agent_id)
        return Response(TrustSerializer({"agent_id": agent.pk, "trust_score": agent.trust_score, "components": trust_components(agent=agent),
                                         "recent_events": selectors.trust_events(agent=agent)}).data)


class TrustHistoryApi(ListAPIView):
    """Every event that moved the agent's trust score, newest first."""

    permission_classes = [TOOL]
    required_scope = "agents"
    serializer_class = TrustEventSerializer
    pagination_class = LimitOffsetPagination

    def get_queryset(self) -> Any:
        agent = selectors.agent_get(user=request_user(self.request), agent_id=self.kwargs["agent_id"])
        return selectors.trust_history(agent=agent)

    @extend_schema(operation_id="agents_trust_history")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class TrustRateApi(APIView):
    """The requester rates a finished task of this agent, once (409 on a second try)."""

    permission_classes = [TOOL]
    required_scope = "agents"

    @extend_schema(operation_id="agents_trust_rate", request=RateSerializer, responses={201: RatingSerializer, **error_responses(409)})
    def post(self, request: Request, agent_id: str) -> Response:
        user = request_user(request)
        agent = selectors.agent_get(user=user, agent_id=agent_id)
        data = _valid(RateSerializer, request)
        task = selectors.task_get_as_requester(user=user, task_id=data["task_id"])
        if task.agent_id != agent.pk:
            raise NotFound("Task not found.")
        rating = services.rating_create(user=user, task=task, rating=data["rating"], comment=data.get("comment") or "")
        return Response(RatingSerializer({"id": rating.pk, "task_id": task.pk, "agent_id": agent.pk, "rating": rating.rating,
                                          "comment": rating.comment, "created_at": rating.created_at}).data, status=status.HTTP_201_CREATED)


class A2AGatewayApi(APIView):
    """A2A JSON-RPC 2.0 (v0.3 and v1.0 method names): a message becomes a task of the caller; needs an nxk_ key."""

    permission_classes = [TOOL]
    required_scope = "agents"

    @extend_schema(operation_id="a2a_jsonrpc", request=OpenApiTypes.OBJECT,
                   responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="A JSON-RPC response, or SSE for message/stream."),
                              **error_responses(402)})
    def post(self, request: Request) -> Any:
        if not isinstance(request.auth, ApiKey):
            raise Unauthorized("The A2A gateway takes an nxk_ API key (Authorization: Bearer nxk_... or x-api-key).")
        user = request_user(request)
        raw = request._request.body
        try:
            request_id, operation, version, params = gateway.rpc_parse(raw)
            if operation == "stream":
                task, _ = gateway.message_accept(user=user, params=params, version=version, request_id=request_id, wait=False)
                return sse_response(_rpc_frames(task, version, request_id))
            return Response(gateway.rpc_handle(user=user, request_id=request_id, operation=operation, version=version, params=params))
        except gateway.RpcError as exc:
            return Response(exc.body())


async def _rpc_frames(task: Any, version: str, request_id: Any) -> Any:
    """SSE frames of the task's snapshots (JSON-RPC responses), one per change, until it needs the caller or ends."""
    snapshot = db_sync_to_async(gateway.task_snapshot)
    yield PREAMBLE
    last = None
    number = 0
    deadline = asyncio.get_running_loop().time() + gateway.stream_limit_seconds(task)
    while asyncio.get_running_loop().time() < deadline:
        state, result, settled = await snapshot(task.pk, version)
        if state != last:
            last = state
            number += 1
            body = {"jsonrpc": "2.0", "id": request_id, "result": result}
            yield f"id: {number}\ndata: {json.dumps(body, separators=(',', ':'), default=str)}\n\n".encode()
        if settled:
            return
        await asyncio.sleep(0.25)
