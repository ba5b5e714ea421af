"""HTTP views of the billing API: parse, call a service or selector, render."""
from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.caller import request_user
from apps.core.openapi import error_responses
from apps.core.pagination import LimitOffsetPagination
from apps.core.serializers import Serializer, StrictCharField, StrictChoiceField

from .. import payments, selectors, services
from ..errors import InvalidCronSecret
from ..models import CreditTransaction
from ..webhooks import stripe_webhook_receive
from .serializers import (
    BalanceSerializer,
    CreditTransactionSerializer,
    InvoiceSerializer,
    PlansSerializer,
    UrlSerializer,
    UsageSerializer,
)

READ = "billing:read"
WRITE = "billing"


class BillingBalanceApi(APIView):
    """The caller's credit balance, totals and tier."""

    required_scope = READ

    @extend_schema(operation_id="billing_balance", responses={200: BalanceSerializer})
    def get(self, request: Request) -> Response:
        return Response(BalanceSerializer(selectors.balance_for(user=request_user(request))).data)


class BillingTransactionListApi(ListAPIView):
    """The caller's ledger, newest first: `?type=usage|reset|topup|refund|earned|spent&limit&offset`."""

    required_scope = READ
    serializer_class = CreditTransactionSerializer
    pagination_class = LimitOffsetPagination

    def get_queryset(self) -> QuerySet[CreditTransaction]:
        return selectors.transaction_list(user=request_user(self.request), type=self.request.query_params.get("type") or None)

    @extend_schema(operation_id="billing_transactions", parameters=[OpenApiParameter("type", str, enum=["usage", "reset", "topup", "refund", "earned", "spent"])])
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)


class BillingUsageApi(APIView):
    """Daily credits spent (by model) and earned: `?period=7d|30d|90d` (default 30d)."""

    required_scope = READ

    @extend_schema(operation_id="billing_usage", parameters=[OpenApiParameter("period", str, enum=["7d", "30d", "90d"])],
                   responses={200: UsageSerializer})
    def get(self, request: Request) -> Response:
        series = selectors.usage_series(user=request_user(request), period=request.query_params.get("period") or "30d")
        return Response(UsageSerializer(series).data)


class BillingPlanListApi(APIView):
    """Tiers (monthly credits, price) and credit packages."""

    required_scope = READ

    @extend_schema(operation_id="billing_plans", responses={200: PlansSerializer})
    def get(self, request: Request) -> Response:
        return Response(PlansSerializer(selectors.plan_list()).data)


class BillingCheckoutApi(APIView):
    """A Stripe Checkout URL: `{package_id}` (one-time credits) or `{price_id, mode}` (a tier subscription)."""

    required_scope = WRITE

    class InputSerializer(Serializer):
        class Meta:
            ref_name = "BillingCheckoutInput"

        package_id = StrictCharField(max_length=100, required=False)
        price_id = StrictCharField(max_length=100, required=False)
        mode = StrictChoiceField(choices=payments.CHECKOUT_MODES, required=False)

        def validate(self, attrs: dict) -> dict:
            if not attrs.get("package_id") and not attrs.get("price_id"):
                raise serializers.ValidationError({"package_id": ["Give `package_id`, or `price_id` and `mode`."]})
            return attrs

    @extend_schema(operation_id="billing_checkout", request=InputSerializer, responses={200: UrlSerializer, **error_responses(409, 503)})
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        url = payments.checkout_create(user=request_user(request), **serializer.validated_data)
        return Response({"url": url})


class BillingPortalApi(APIView):
    """A Stripe Billing Portal URL for the caller's own customer."""

    required_scope = WRITE

    @extend_schema(operation_id="billing_portal", request=None, responses={200: UrlSerializer, **error_responses(503)})
    def post(self, request: Request) -> Response:
        return Response({"url": payments.portal_create(user=request_user(request))})


class BillingInvoiceListApi(ListAPIView):
    """The caller's Stripe invoices, newest first (limit/offset over the newest 100)."""

    required_scope = READ
    serializer_class = InvoiceSerializer
    pagination_class = LimitOffsetPagination

    def get_queryset(self) -> Any:
        return payments.invoices_for(user=request_user(self.request))

    @extend_schema(operation_id="billing_invoices", responses={200: InvoiceSerializer(many=True), **error_responses(503)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class BillingWebhookApi(APIView):
    """Stripe webhooks: verified by `Stripe-Signature` (300 s tolerance), each event applied once."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []

    @extend_schema(operation_id="billing_webhook", request=None,
                   parameters=[OpenApiParameter("Stripe-Signature", str, OpenApiParameter.HEADER, required=True,
                                                description="Stripe's signature of the raw body; a bad one answers 400.")],
                   responses={200: inline_serializer("WebhookReceived", {"received": serializers.BooleanField(),
                                                                         "duplicate": serializers.BooleanField()})})
    def post(self, request: Request) -> Response:
        _record, applied = stripe_webhook_receive(payload=request.body, signature=request.headers.get("Stripe-Signature"))
        return Response({"received": True, "duplicate": not applied})


class CronResetCreditsApi(APIView):
    """The monthly credit reset, for an outside scheduler: `Authorization: Bearer <CRON_SECRET>`."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []

    @extend_schema(operation_id="cron_reset_credits", request=None,
                   responses={200: inline_serializer("CreditResetDone", {"message": StrictCharField(),
                                                                         "reset_count": serializers.IntegerField()})})
    def post(self, request: Request) -> Response:
        expected = settings.CRON_SECRET
        header = request.headers.get("Authorization", "")
        given = header[7:] if header.startswith("Bearer ") else ""
        # An unset secret never matches: the route stays closed until an operator sets one.
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise InvalidCronSecret()
        return Response({"message": "Credit reset completed", "reset_count": services.credit_reset_due()})
