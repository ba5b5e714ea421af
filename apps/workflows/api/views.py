"""Workflows API: definitions, trigger secrets, runs (execute, events, cancel, resume) and the webhook trigger."""
from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.caller import request_user
from apps.accounts.permissions import HasTool
from apps.core.errors import ValidationError
from apps.core.openapi import error_responses
from apps.core.pagination import LimitOffsetPagination
from apps.core.sse import sse_run_response

from .. import services
from ..hooks import hook_receive
from ..schedules import schedule_create, schedule_delete
from ..selectors import (
    run_get,
    run_list,
    run_stream_key,
    schedule_get,
    schedule_list,
    workflow_get,
    workflow_get_for_write,
    workflow_list,
)
from .serializers import (
    ExecuteSerializer,
    HookAcceptedSerializer,
    RunListSerializer,
    RunPageSerializer,
    RunSerializer,
    SchedulePageSerializer,
    ScheduleSerializer,
    ScheduleWriteSerializer,
    TriggerSecretSerializer,
    WorkflowCreatedSerializer,
    WorkflowDetailSerializer,
    WorkflowPageSerializer,
    WorkflowSerializer,
    WorkflowWriteSerializer,
)

# DRF calls each entry of permission_classes; a HasTool returns itself, so it stands where a class is expected.
TOOL: type[BasePermission] = HasTool("workflows")  # type: ignore[assignment]
WRITABLE = ("name", "description", "max_cost", "steps", "workspace_id")
SSE_RESPONSE = OpenApiResponse(description="Server-Sent Events (text/event-stream) with `id:`, `event:` and one JSON `data:` line.")


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ValidationError("The body must be a JSON object.")
    return request.data


def _description(data: dict[str, Any]) -> dict[str, Any]:
    if "description" in data and data["description"] is not None and not isinstance(data["description"], str):
        raise ValidationError("The description must be a string.", details={"description": ["Must be a string."]})
    return data


class WorkflowListCreateApi(APIView):
    """The workflows the caller may see, and creating one (its trigger secret is shown once)."""

    permission_classes = [TOOL]
    required_scope = "workflows"

    @extend_schema(operation_id="workflows_list", parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
                   responses={200: WorkflowPageSerializer})
    def get(self, request: Request) -> Response:
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(workflow_list(user=request_user(request)), request, view=self)
        return paginator.get_paginated_response(WorkflowSerializer(page, many=True).data)

    @extend_schema(operation_id="workflows_create", request=WorkflowWriteSerializer, responses={201: WorkflowCreatedSerializer})
    def post(self, request: Request) -> Response:
        data = _description(_body(request))
        if "name" not in data:
            raise ValidationError("A workflow needs a name.", details={"name": ["Required."]})
        if "steps" not in data:
            raise ValidationError("A workflow needs steps.", details={"steps": ["Required."]})
        workflow, secret = services.workflow_create(user=request_user(request), **{k: data[k] for k in WRITABLE if k in data})
        return Response(WorkflowCreatedSerializer(workflow, context={"trigger_secret": secret}).data, status=status.HTTP_201_CREATED)


class WorkflowDetailApi(APIView):
    """One workflow with its recent runs; PATCH changes it (new steps: a new version); DELETE removes it."""

    permission_classes = [TOOL]
    required_scope = "workflows"

    @extend_schema(operation_id="workflows_retrieve", responses={200: WorkflowDetailSerializer})
    def get(self, request: Request, pk: str) -> Response:
        return Response(WorkflowDetailSerializer(workflow_get(user=request_user(request), workflow_id=pk)).data)

    @extend_schema(operation_id="workflows_update", request=WorkflowWriteSerializer, responses={200: WorkflowDetailSerializer})
    def patch(self, request: Request, pk: str) -> Response:
        workflow = workflow_get_for_write(user=request_user(request), workflow_id=pk)
        data = _description(_body(request))
        workflow = services.workflow_update(user=request_user(request), workflow=workflow,
                                            data={k: data[k] for k in WRITABLE if k in data})
        return Response(WorkflowDetailSerializer(workflow).data)

    @extend_schema(operation_id="workflows_destroy", responses={204: None})
    def delete(self, request: Request, pk: str) -> Response:
        services.workflow_delete(workflow=workflow_get_for_write(user=request_user(request), workflow_id=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WorkflowDuplicateApi(APIView):
    """Copy a workflow the caller can see into a private one of their own (with its own trigger secret)."""

    permission_classes = [TOOL]
    required_scope = "workflows"

    @extend_schema(operation_id="workflows_duplicate", request=None, responses={201: WorkflowCreatedSerializer})
    def post(self, request: Request, pk: str) -> Response:
        copy, secret = services.workflow_duplicate(user=request_user(request),
                                                   workflow=workflow_get(user=request_user(request), workflow_id=pk))
        return Response(WorkflowCreatedSerializer(copy, context={"trigger_secret": secret}).data, status=status.HTTP_201_CREATED)


class TriggerSecretRotateApi(APIView):
    """Rotate a workflow's trigger secret; the new one is shown once."""

    permission_classes = [TOOL]
    required_scope = "workflows"

    @extend_schema(operation_id="workflows_trigger_secret_rotate", request=None, responses={200: TriggerSecretSerializer})
    def post(self, request: Request, pk: str) -> Response:
        workflow = workflow_get_for_write(user=request_user(request), workflow_id=pk)
        return Response({"trigger_secret": services.trigger_secret_rotate(workflow=workflow)})


class WorkflowExecuteApi(APIView):
    """Start a run of the workflow's current version: 202 with the run."""

    permission_classes = [TOOL]
    required_scope = "workflows"

    @extend_schema(operation_id="workflows_execute", request=ExecuteSerializer, responses={202: RunSerializer, **error_responses(503)})
    def post(self, request: Request, pk: str) -> Response:
        workflow = workflow_get(user=request_user(request), workflow_id=pk)
        data = _body(request)
        run, _created = services.run_start(user=request_user(request), workflow=workflow, input=data.get("input"))
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class WorkflowRunsApi(APIView):
    """A workflow's runs, newest first."""

    permission_classes = [TOOL]
    required_scope = "workflows"

    @extend_schema(operation_id="workflows_runs_list", parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
                   responses={200: RunPageSerializer})
    def get(self, request: Request, pk: str) -> Response:
        workflow = workflow_get(user=request_user(request), workflow_id=pk)
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(run_list(user=request_user(request), workflow=workflow), request, view=self)
        return paginator.get_paginated_response(RunListSerializer(page, many=True).data)


class RunDetailApi(APIView):
    """A run with per-step status, output, logs and timings."""

    permission_classes = [TOOL]
    required_scope = "workflows"

    @extend_schema(operation_id="workflows_run_retrieve", responses={200: RunSerializer})
    def get(self, request: Request, run_id: str) -> Response:
        return Response(RunSerializer(run_get(user=request_user(request), run_id=run_id)).data)


class RunEventsApi(APIView):
    """A run's events: replays after Last-Event-ID, then follows live until it ends."""

    permission_classes = [TOOL]
    required_scope = "workflows"

    @extend_schema(operation_id="workflows_run_events", responses={200: SSE_RESPONSE})
    def get(self, request: Request, run_id: str) -> Any:
        run = run_get(user=request_user(request), run_id=run_id)
        return sse_run_response(request._request, run_stream_key(run.pk), named=True, headers={"X-Run-Id": str(run.pk)})


class RunCancelApi(APIView):
    """Stop a run: running steps are stopped (provider streams closed), pending ones cancelled."""

    permission_classes = [TOOL]
    required_scope = "workflows"

    @extend_schema(operation_id="workflows_run_cancel", request=None, responses={200: RunSerializer, **error_responses(409)})
    def post(self, request: Request, run_id: str) -> Response:
        run = services.run_cancel(run=run_get(user=request_user(request), run_id=run_id))
        return Response(RunSerializer(run).data)


class RunResumeApi(APIView):
    """Re-run the failed and skipped steps of a failed run, keeping what succeeded."""

    permission_classes = [TOOL]
    required_scope = "workflows"

    @extend_schema(operation_id="workflows_run_resume", request=None, responses={202: RunSerializer, **error_responses(409, 503)})
    def post(self, request: Request, run_id: str) -> Response:
        run = services.run_resume(run=run_get(user=request_user(request), run_id=run_id))
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class HookApi(APIView):
    """Webhook trigger: `X-Nexus-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` or `?token=<secret>`."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []

    _parameters = [
        OpenApiParameter("X-Nexus-Signature", str, OpenApiParameter.HEADER, required=False,
                         description="t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<raw body>' keyed by the trigger secret>"),
        OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
                         description="A repeated key answers the first delivery's execution_id without a second run."),
        OpenApiParameter("token", str, required=False, description="The trigger secret itself (instead of a signature)."),
    ]

    def _receive(self, request: Request, workflow_id: str) -> Response:
        run, created = hook_receive(workflow_id=workflow_id, body=request.body, signature=request.headers.get("X-Nexus-Signature"),
                                    token=request.query_params.get("token"), idempotency_key=request.headers.get("Idempotency-Key") or "",
                                    query=dict(request.query_params.items()))
        return Response({"success": True, "execution_id": str(run.pk)},
                        status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK)

    @extend_schema(operation_id="workflows_hook_post", request=OpenApiTypes.OBJECT, parameters=_parameters,
                   responses={202: HookAcceptedSerializer, 200: HookAcceptedSerializer, **error_responses(503)})
    def post(self, request: Request, workflow_id: str) -> Response:
        return self._receive(request, workflow_id)

    @extend_schema(operation_id="workflows_hook_get", parameters=_parameters,
                   responses={202: HookAcceptedSerializer, 200: HookAcceptedSerializer, **error_responses(503)})
    def get(self, request: Request, workflow_id: str) -> Response:
        return self._receive(request, workflow_id)


class ScheduleListCreateApi(APIView):
    """A workflow's schedules, and adding one (run by Celery beat from the database)."""

    permission_classes = [TOOL]
    required_scope = "workflows"

    @extend_schema(operation_id="workflows_schedules_list", responses={200: SchedulePageSerializer})
    def get(self, request: Request, pk: str) -> Response:
        workflow = workflow_get(user=request_user(request), workflow_id=pk)
        items = list(schedule_list(workflow=workflow).select_related("periodic_task"))
        return Response({"count": len(items), "next": None, "previous": None, "results": ScheduleSerializer(items, many=True).data})

    @extend_schema(operation_id="workflows_schedules_create", request=ScheduleWriteSerializer, responses={201: ScheduleSerializer})
    def post(self, request: Request, pk: str) -> Response:
        workflow = workflow_get_for_write(user=request_user(request), workflow_id=pk)
        data = _body(request)
        schedule = schedule_create(user=request_user(request), workflow=workflow, cron=data.get("cron"),
                                   timezone=data.get("timezone"), input=data.get("input"))
        return Response(ScheduleSerializer(schedule).data, status=status.HTTP_201_CREATED)


class ScheduleDetailApi(APIView):
    """Remove a schedule."""

    permission_classes = [TOOL]
    required_scope = "workflows"

    @extend_schema(operation_id="workflows_schedules_destroy", responses={204: None})
    def delete(self, request: Request, pk: str, schedule_id: str) -> Response:
        workflow = workflow_get_for_write(user=request_user(request), workflow_id=pk)
        schedule_delete(schedule=schedule_get(workflow=workflow, schedule_id=schedule_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
