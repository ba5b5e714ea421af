"""Shared-artifact API: the caller's links (list, create, revoke) and the public read by token."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.caller import request_user
from apps.core.openapi import error_responses
from apps.core.pagination import LimitOffsetPagination
from apps.core.ratelimit import ratelimit_hit

from .. import services
from ..models import Artifact
from ..selectors import artifact_by_token, artifact_get, artifact_list, artifact_token
from .serializers import ArtifactInputSerializer, ArtifactPageSerializer, ArtifactSerializer, SharedArtifactSerializer


def artifact_data(artifact: Artifact, token: str | None = None) -> dict[str, Any]:
    """The owner's view of an artifact (the token decrypted when not given)."""
    token = token or artifact_token(artifact=artifact)
    return {
        "id": artifact.pk, "title": artifact.title, "content_type": artifact.content_type, "token": token,
        "url": services.artifact_url(token), "message_id": artifact.message_id, "expires_at": artifact.expires_at,
        "expired": artifact.expired, "created_at": artifact.created_at,
    }


class ArtifactListCreateApi(APIView):
    """The caller's shared links, and sharing content or a chat message at a new one."""

    required_scope = "chat"

    @extend_schema(operation_id="artifacts_list", parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
                   responses={200: ArtifactPageSerializer})
    def get(self, request: Request) -> Response:
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(artifact_list(user=request_user(request)), request, view=self) or []
        return paginator.get_paginated_response(ArtifactSerializer([artifact_data(a) for a in page], many=True).data)

    @extend_schema(operation_id="artifacts_create", request=ArtifactInputSerializer,
                   responses={201: ArtifactSerializer, **error_responses(409)})
    def post(self, request: Request) -> Response:
        serializer = ArtifactInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        artifact, token = services.artifact_create(user=request_user(request), **serializer.validated_data)
        return Response(ArtifactSerializer(artifact_data(artifact, token)).data, status=status.HTTP_201_CREATED)


class ArtifactDetailApi(APIView):
    """Revoke one of the caller's links: it answers 404 from then on."""

    required_scope = "chat"

    @extend_schema(operation_id="artifacts_destroy", responses={204: None})
    def delete(self, request: Request, pk: str) -> Response:
        services.artifact_revoke(artifact=artifact_get(user=request_user(request), artifact_id=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SharedArtifactApi(APIView):
    """A shared artifact, read-only, for anyone holding the link (no credentials); 404 when revoked or expired."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []

    @extend_schema(operation_id="shared_retrieve", auth=[], responses={200: SharedArtifactSerializer})
    def get(self, request: Request, token: str) -> Response:
        # Per client address: links are unguessable, but a public route still must not be free to hammer.
        ratelimit_hit(request, group="sharing-public", key=request.META.get("REMOTE_ADDR") or "unknown",
                      rate=settings.SHARING_PUBLIC_RATE)
        artifact = artifact_by_token(token=token)
        response = Response(SharedArtifactSerializer(artifact).data)
        response["Cache-Control"] = "no-store"  # a revoked link must not live on in a cache
        response["Referrer-Policy"] = "no-referrer"
        return response
