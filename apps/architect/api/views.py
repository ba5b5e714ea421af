"""Assistant Architect API: tools (CRUD + duplicate), execute (SSE), executions, their events, cancel."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.caller import request_user
from apps.accounts.permissions import HasTool
from apps.core.errors import ValidationError
from apps.core.openapi import error_responses
from apps.core.serializers import Serializer, StrictCharField
from apps.core.sse import sse_run_response
from apps.core.viewsets import ScopedModelViewSet, ScopedReadOnlyViewSet

from .. import services
from ..selectors import execution_get, execution_list, tool_get, tool_get_for_write, tool_list
from .serializers import (
    ExecuteRequestSerializer,
    ExecutionListSerializer,
    ExecutionSerializer,
    ToolSerializer,
    ToolWriteSerializer,
)

SSE_RESPONSE = OpenApiResponse(description="Server-Sent Events (text/event-stream) with `id:`, `event:` and one JSON `data:` line.")
# DRF calls each entry of permission_classes; a HasTool returns itself, so it stands where a class is expected.
TOOL: type[BasePermission] = HasTool("assistant-architect")  # type: ignore[assignment]
WRITABLE = ("name", "description", "status", "input_fields", "prompts", "workspace_id")


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ValidationError("The body must be a JSON object.")
    return request.data


class ToolViewSet(ScopedModelViewSet):
    """Tools the caller may see: their own, published ones, and those shared with their workspaces."""

    permission_classes = [TOOL]
    required_scope = "architect"
    serializer_class = ToolSerializer

    def get_queryset(self) -> Any:
        params = self.request.query_params
        return tool_list(user=request_user(self.request), status=params.get("status") or None, mine=params.get("mine") in ("1", "true"))

    @extend_schema(parameters=[OpenApiParameter("status", str), OpenApiParameter("mine", bool)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=ToolWriteSerializer, responses={201: ToolSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = _body(request)
        tool = services.tool_create(user=request_user(request), **{k: data[k] for k in WRITABLE if k in data})
        return Response(ToolSerializer(tool_get(user=request_user(request), tool_id=tool.pk), context={"request": request}).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=ToolWriteSerializer, responses={200: ToolSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        tool = tool_get_for_write(user=request_user(request), tool_id=kwargs["pk"])
        data = _body(request)
        tool = services.tool_update(user=request_user(request), tool=tool, **{k: data[k] for k in WRITABLE if k in data})
        return Response(ToolSerializer(tool_get(user=request_user(request), tool_id=tool.pk), context={"request": request}).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.tool_delete(tool=tool_get_for_write(user=request_user(request), tool_id=kwargs["pk"]))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ToolDuplicateApi(APIView):
    """Copy a tool the caller can see into a private draft of their own."""

    permission_classes = [TOOL]
    required_scope = "architect"

    @extend_schema(operation_id="architect_tool_duplicate", request=None, responses={201: ToolSerializer})
    def post(self, request: Request, pk: str) -> Response:
        copy = services.tool_duplicate(user=request_user(request), tool=tool_get(user=request_user(request), tool_id=pk))
        return Response(ToolSerializer(tool_get(user=request_user(request), tool_id=copy.pk), context={"request": request}).data,
                        status=status.HTTP_201_CREATED)


class ExecutionStartApi(APIView):
    """Run a tool on a worker and stream its events; the run goes on if the client disconnects."""

    permission_classes = [TOOL]
    required_scope = "architect"
    rate_kinds = {"POST": "architect"}  # counted by the default throttle, with the API limit

    class InputSerializer(ExecuteRequestSerializer):
        """POST /architect/execute: `{tool_id, inputs, conversation_id?}`."""

    @extend_schema(operation_id="architect_execute", request=InputSerializer, responses={200: SSE_RESPONSE, **error_responses(402, 409, 503)})
    def post(self, request: Request) -> Any:
        body = self.InputSerializer(data=_body(request))
        body.is_valid(raise_exception=True)
        tool = tool_get(user=request_user(request), tool_id=body.validated_data["tool_id"])
        execution = services.execution_start(user=request_user(request), tool=tool, inputs=body.validated_data["inputs"],
                                             conversation_id=body.validated_data["conversation_id"])
        return sse_run_response(request._request, services.execution_stream_key(execution.pk), named=True,
                                headers={"X-Execution-Id": str(execution.pk)})


class ExecutionViewSet(ScopedReadOnlyViewSet):
    """The caller's executions with status and per-prompt results."""

    permission_classes = [TOOL]
    required_scope = "architect"

    def get_serializer_class(self) -> Any:
        return ExecutionListSerializer if self.action == "list" else ExecutionSerializer

    def get_queryset(self) -> Any:
        params = self.request.query_params
        return execution_list(user=request_user(self.request), tool_id=params.get("tool_id") or None, status=params.get("status") or None)

    @extend_schema(parameters=[OpenApiParameter("tool_id", str), OpenApiParameter("status", str)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)


class ExecutionEventsApi(APIView):
    """An execution's events: replays after Last-Event-ID, then follows live until it ends."""

    permission_classes = [TOOL]
    required_scope = "architect"

    @extend_schema(operation_id="architect_execution_events", responses={200: SSE_RESPONSE})
    def get(self, request: Request, pk: str) -> Any:
        execution = execution_get(user=request_user(request), execution_id=pk)
        return sse_run_response(request._request, services.execution_stream_key(execution.pk), named=True,
                                headers={"X-Execution-Id": str(execution.pk)})


class ExecutionCancelApi(APIView):
    """Stop an execution: running provider streams are closed and it ends `cancelled`."""

    permission_classes = [TOOL]
    required_scope = "architect"

    class ExecutionCancelOutputSerializer(Serializer):
        """`{execution_id, status: cancelled|cancelling}`."""

        execution_id = serializers.UUIDField()
        status = StrictCharField()

    @extend_schema(operation_id="architect_execution_cancel", request=None,
                   responses={202: ExecutionCancelOutputSerializer, **error_responses(409)})
    def post(self, request: Request, pk: str) -> Response:
        execution = execution_get(user=request_user(request), execution_id=pk)
        state = services.execution_cancel(execution=execution)
        return Response({"execution_id": str(execution.pk), "status": state}, status=status.HTTP_202_ACCEPTED)
