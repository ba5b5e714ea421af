"""Views of the llm API: admin providers and models, the caller's models, metrics."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.caller import request_user
from apps.accounts.permissions import ANY_KEY, IsAdminRole
from apps.core.openapi import error_responses
from apps.core.selectors import get_or_404
from apps.core.serializers import Serializer, StrictCharField
from apps.core.viewsets import ScopedModelViewSet

from .. import services
from ..models import LlmModel, ProviderConnection
from ..selectors import model_list_admin, model_list_for_user, provider_list, usage_metrics
from .serializers import (
    MetricsQuerySerializer,
    ModelAdminSerializer,
    ModelPublicSerializer,
    ProviderSerializer,
    ProviderTestOutputSerializer,
)

PERIODS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90)}


@extend_schema_view(create=extend_schema(responses={201: ProviderSerializer, **error_responses(409)}),
                    partial_update=extend_schema(responses={200: ProviderSerializer, **error_responses(409)}))
class ProviderViewSet(ScopedModelViewSet):
    """Provider connections (admin): the API key is write-only and stored encrypted."""

    permission_classes = [IsAdminRole]
    required_scope = "admin"
    selector = staticmethod(provider_list)
    serializer_class = ProviderSerializer

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.provider_create(**serializer.validated_data)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.provider_update(provider=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance: ProviderConnection) -> None:
        services.provider_delete(provider=instance)


class ProviderTestApi(APIView):
    """Test a connection: list the provider's models with the stored key (never shown)."""

    permission_classes = [IsAdminRole]
    required_scope = "admin"
    OutputSerializer = ProviderTestOutputSerializer

    @extend_schema(operation_id="admin_provider_test", request=None, responses={200: ProviderTestOutputSerializer})
    def post(self, request: Request, provider_id: Any) -> Response:
        provider = get_or_404(ProviderViewSet.selector(user=request_user(request)), "No such provider.", pk=provider_id)
        return Response(self.OutputSerializer(services.provider_test(provider=provider)).data)


@extend_schema_view(create=extend_schema(responses={201: ModelAdminSerializer, **error_responses(409)}),
                    partial_update=extend_schema(responses={200: ModelAdminSerializer, **error_responses(409)}))
class ModelAdminViewSet(ScopedModelViewSet):
    """The model registry (admin): names, provider models, prices per 1M tokens, tiers, active."""

    permission_classes = [IsAdminRole]
    required_scope = "admin"
    selector = staticmethod(model_list_admin)
    serializer_class = ModelAdminSerializer

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.model_create(**serializer.validated_data)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.model_update(model=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance: LlmModel) -> None:
        services.model_delete(model=instance)


class ModelListApi(ListAPIView):
    """The models the caller's tier may use (any API key may list them)."""

    required_scope = ANY_KEY
    serializer_class = ModelPublicSerializer

    def get_queryset(self) -> Any:
        return model_list_for_user(user=request_user(self.request))


class MetricsApi(APIView):
    """Usage per model over a period: requests, tokens, cost, error rate, latency and TTFT percentiles (admin)."""

    permission_classes = [IsAdminRole]
    required_scope = "admin"

    class OutputSerializer(Serializer):
        period = StrictCharField()
        since = serializers.DateTimeField()
        until = serializers.DateTimeField()
        totals = serializers.DictField()
        models = serializers.ListField(child=serializers.DictField())

    @extend_schema(operation_id="metrics", parameters=[MetricsQuerySerializer], responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        query = MetricsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        period = query.validated_data["period"]
        until = timezone.now()
        data = usage_metrics(user=request_user(request), since=until - PERIODS[period], until=until)
        return Response(self.OutputSerializer({"period": period, **data}).data)
