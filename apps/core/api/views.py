"""Core API views: health."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.health import health_report
from apps.core.serializers import StrictCharField, StrictChoiceField


class HealthApi(APIView):
    """Liveness and dependency checks; no authentication. 503 only when unhealthy."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="health",
        responses={
            200: inline_serializer(
                "Health",
                {
                    "status": StrictChoiceField(choices=["healthy", "degraded", "unhealthy"]),
                    "version": StrictCharField(),
                    "timestamp": serializers.DateTimeField(),
                    "services": serializers.DictField(),
                },
            )
        },
    )
    def get(self, request: Request) -> Response:
        report = health_report()
        response = Response(report, status=503 if report["status"] == "unhealthy" else 200)
        response.nexus_envelope = True  # type: ignore[attr-defined]  # the report is the body, even at 503
        return response
