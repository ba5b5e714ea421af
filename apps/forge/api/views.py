"""Forge API: start builds (prompt or template), list, show, cancel or delete, deploy, download, templates, statistics."""
from __future__ import annotations

from typing import Any

from django.core.files.storage import default_storage
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.caller import request_user
from apps.accounts.permissions import HasTool, IsAdminRole
from apps.core.errors import NotFound, ValidationError
from apps.core.openapi import error_responses
from apps.core.pagination import LimitOffsetPagination
from apps.core.serializers import Serializer, StrictCharField

from .. import services
from ..errors import BuildNotFinished
from ..models import BuildStatus
from ..selectors import build_get, build_list, build_statistics, template_get, template_list
from ..sites import deployment_url
from .serializers import (
    BuildListSerializer,
    BuildPageSerializer,
    BuildSerializer,
    BuildStartedSerializer,
    BuildStartSerializer,
    DeploymentOutSerializer,
    DeploySerializer,
    FromTemplateSerializer,
    StatisticsSerializer,
    TemplateSerializer,
    websocket_path,
)

# DRF calls each entry of permission_classes; a HasTool returns itself, so it stands where a class is expected.
TOOL: type[BasePermission] = HasTool("forge")  # type: ignore[assignment]
ESTIMATED_DURATION = "1-3 minutes"


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ValidationError("The body must be a JSON object.")
    return request.data


def _started(build: Any) -> Response:
    return Response({"session_id": str(build.pk), "status": "build_started", "websocket_url": websocket_path(build),
                     "estimated_duration": ESTIMATED_DURATION}, status=status.HTTP_202_ACCEPTED)


class BuildListStartApi(APIView):
    """The caller's builds (`?status=&search=`), and starting a new one."""

    permission_classes = [TOOL]
    required_scope = "forge"

    @extend_schema(operation_id="forge_builds_list", parameters=[
        OpenApiParameter("status", str, enum=list(BuildStatus.values)), OpenApiParameter("search", str),
        OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        responses={200: BuildPageSerializer})
    def get(self, request: Request) -> Response:
        wanted = request.query_params.get("status") or None
        if wanted is not None and wanted not in BuildStatus.values:
            raise ValidationError(f"Unknown status; use one of {', '.join(BuildStatus.values)}.",
                                  details={"status": ["Unknown status."]})
        queryset = build_list(user=request_user(request), status=wanted, search=request.query_params.get("search") or None)
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(BuildListSerializer(page, many=True).data)

    @extend_schema(operation_id="forge_builds_start", request=BuildStartSerializer,
                   responses={202: BuildStartedSerializer, **error_responses(402, 503)})
    def post(self, request: Request) -> Response:
        body = BuildStartSerializer(data=_body(request))
        body.is_valid(raise_exception=True)
        build = services.build_start(user=request_user(request), prompt=body.validated_data["prompt"],
                                     config=body.validated_data.get("config"))
        return _started(build)


class BuildFromTemplateApi(APIView):
    """Start a build from a template of the catalogue, with customisations."""

    permission_classes = [TOOL]
    required_scope = "forge"

    @extend_schema(operation_id="forge_builds_from_template", request=FromTemplateSerializer,
                   responses={202: BuildStartedSerializer, **error_responses(402, 503)})
    def post(self, request: Request) -> Response:
        body = FromTemplateSerializer(data=_body(request))
        body.is_valid(raise_exception=True)
        template = template_get(template_id=body.validated_data["template_id"])
        build = services.build_start_from_template(user=request_user(request), template=template,
                                                   customizations=body.validated_data.get("customizations"))
        return _started(build)


class BuildDetailApi(APIView):
    """One build: status, progress and result; DELETE cancels it while it runs, deletes it once it has ended."""

    permission_classes = [TOOL]
    required_scope = "forge"

    class CancelledSerializer(Serializer):
        """`{session_id, status: cancelled|cancelling}`."""

        session_id = serializers.UUIDField()
        status = StrictCharField()

    @extend_schema(operation_id="forge_builds_retrieve", responses={200: BuildSerializer})
    def get(self, request: Request, pk: str) -> Response:
        return Response(BuildSerializer(build_get(user=request_user(request), build_id=pk)).data)

    @extend_schema(operation_id="forge_builds_cancel_or_delete", responses={202: CancelledSerializer, 204: None})
    def delete(self, request: Request, pk: str) -> Response:
        build = build_get(user=request_user(request), build_id=pk)
        outcome = services.build_cancel_or_delete(build=build)
        if outcome == "deleted":
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response({"session_id": str(build.pk), "status": outcome}, status=status.HTTP_202_ACCEPTED)


def _deployment_out(deployment: Any) -> dict[str, Any]:
    live = deployment.status == "deployed"
    return {"deployment_id": str(deployment.pk), "status": deployment.status,
            "deployment_url": deployment_url(deployment.slug) if live else None,
            "environment": deployment.environment, "domain": deployment.domain}


class BuildDeployApi(APIView):
    """Publish a completed build's app at /apps/<slug>/ (again: replaced atomically); DELETE undeploys it."""

    permission_classes = [TOOL]
    required_scope = "forge"

    @extend_schema(operation_id="forge_builds_deploy", request=DeploySerializer,
                   responses={200: DeploymentOutSerializer, **error_responses(409)})
    def post(self, request: Request, pk: str) -> Response:
        build = build_get(user=request_user(request), build_id=pk)
        body = DeploySerializer(data=_body(request) if request.data else {})
        body.is_valid(raise_exception=True)
        deployment = services.build_deploy(build=build, environment=body.validated_data.get("environment") or "production",
                                           domain=body.validated_data.get("domain") or "")
        return Response(_deployment_out(deployment))

    @extend_schema(operation_id="forge_builds_undeploy", responses={200: DeploymentOutSerializer, **error_responses(409)})
    def delete(self, request: Request, pk: str) -> Response:
        build = build_get(user=request_user(request), build_id=pk)
        return Response(_deployment_out(services.build_undeploy(build=build)))


class BuildDownloadApi(APIView):
    """The zip of a completed build's files."""

    permission_classes = [TOOL]
    required_scope = "forge"

    @extend_schema(operation_id="forge_builds_download",
                   responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The zip."), **error_responses(409)})
    def get(self, request: Request, pk: str) -> Any:
        build = build_get(user=request_user(request), build_id=pk)
        if build.status != BuildStatus.COMPLETED or not build.package_key:
            raise BuildNotFinished("Only a completed build can be downloaded.")
        try:
            handle = default_storage.open(build.package_key, "rb")
        except (FileNotFoundError, OSError) as exc:
            raise NotFound("The package of this build is gone.") from exc
        name = build.package_key.rsplit("/", 1)[-1]
        return FileResponse(handle, as_attachment=True, filename=name, content_type="application/zip")


def _image(request: Request, pk: str, index: int, kind: str) -> FileResponse:
    build = build_get(user=request_user(request), build_id=pk)
    images = getattr(build, kind) or []
    if not 0 <= index < len(images):
        raise NotFound("Image not found.")
    try:
        handle = default_storage.open(images[index]["key"], "rb")
    except (FileNotFoundError, OSError, KeyError) as exc:
        raise NotFound("Image not found.") from exc
    return FileResponse(handle, content_type="image/png")


PNG = OpenApiResponse(OpenApiTypes.BINARY, description="The PNG.")


class BuildScreenshotApi(APIView):
    """One screenshot (PNG) of a build's app, taken in headless Chromium."""

    permission_classes = [TOOL]
    required_scope = "forge"

    @extend_schema(operation_id="forge_builds_screenshot", responses={(200, "image/png"): PNG})
    def get(self, request: Request, pk: str, index: int) -> Any:
        return _image(request, pk, index, "screenshots")


class BuildMockupApi(APIView):
    """One mockup (PNG) of a page of a build's app, drawn by an `image` model."""

    permission_classes = [TOOL]
    required_scope = "forge"

    @extend_schema(operation_id="forge_builds_mockup", responses={(200, "image/png"): PNG})
    def get(self, request: Request, pk: str, index: int) -> Any:
        return _image(request, pk, index, "mockups")


class TemplateListApi(APIView):
    """The template catalogue."""

    permission_classes = [TOOL]
    required_scope = "forge"

    @extend_schema(operation_id="forge_templates_list", responses={200: TemplateSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(TemplateSerializer(template_list(), many=True).data)


class StatisticsApi(APIView):
    """Admin: builds per day and month, success rate, median time and cost, active sessions."""

    permission_classes = [IsAdminRole]
    required_scope = "admin"

    @extend_schema(operation_id="forge_admin_statistics", parameters=[OpenApiParameter("days", int)],
                   responses={200: StatisticsSerializer})
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("days", "30")
        if not raw.isdigit() or not 1 <= int(raw) <= 366:
            raise ValidationError("`days` must be a whole number from 1 to 366.", details={"days": ["1..366"]})
        return Response(StatisticsSerializer(build_statistics(days=int(raw))).data)
