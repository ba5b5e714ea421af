"""Integrations API: the caller's connections (list, create, delete); secrets are write-only."""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.caller import request_user
from apps.core.openapi import error_responses
from apps.core.pagination import LimitOffsetPagination

from .. import services
from ..selectors import connection_get, connection_list
from .serializers import ConnectionInputSerializer, ConnectionPageSerializer, ConnectionSerializer


class ConnectionListCreateApi(APIView):
    """The caller's connections, and saving one (the secret is stored encrypted and never shown again)."""

    # Credentials of outside services: like /keys, only a key with `*` manages them.
    required_scope = "*"

    @extend_schema(operation_id="connections_list", parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
                   responses={200: ConnectionPageSerializer})
    def get(self, request: Request) -> Response:
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(connection_list(user=request_user(request)), request, view=self)
        return paginator.get_paginated_response(ConnectionSerializer(page, many=True).data)

    @extend_schema(operation_id="connections_create", request=ConnectionInputSerializer,
                   responses={201: ConnectionSerializer, **error_responses(409)})
    def post(self, request: Request) -> Response:
        serializer = ConnectionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        connection = services.connection_create(user=request_user(request), **serializer.validated_data)
        return Response(ConnectionSerializer(connection).data, status=status.HTTP_201_CREATED)


class ConnectionDetailApi(APIView):
    """Delete one of the caller's connections (its secret with it)."""

    required_scope = "*"

    @extend_schema(operation_id="connections_destroy", responses={204: None})
    def delete(self, request: Request, pk: str) -> Response:
        services.connection_delete(connection=connection_get(user=request_user(request), connection_id=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
