"""Chat API: the chat stream, re-attach and stop, conversations, messages, folders, compare."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import async_to_sync
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from apps.accounts.caller import request_user
from apps.accounts.models import ApiKey
from apps.accounts.permissions import HasTool
from apps.billing.metering import max_tokens_header
from apps.core.errors import ValidationError
from apps.core.openapi import error_responses
from apps.core.serializers import StrictCharField
from apps.core.sse import format_event, sse_response, sse_run_response, sse_stream_response
from apps.core.streams import subscribe
from apps.core.viewsets import ScopedModelViewSet, ScopedReadOnlyViewSet
from apps.llm.selectors import model_resolve_for_user

from .. import selectors, services
from ..compare import compare_run, compare_start, compare_stream
from ..errors import NothingGenerating
from ..generation import reply_spawn
from ..models import Folder
from ..selectors import (
    comparison_list,
    conversation_get,
    conversation_get_for_write,
    conversation_list,
    folder_list,
    reply_stream_key,
)
from ..services import reply_stop
from .serializers import (
    ChatRequestSerializer,
    CompareRequestSerializer,
    ComparisonSerializer,
    ConversationCreateSerializer,
    ConversationSerializer,
    ConversationUpdateSerializer,
    FolderSerializer,
    MessageSerializer,
)

SSE_RESPONSE = OpenApiResponse(description="Server-Sent Events (text/event-stream), one JSON object per `data:` line.")


def _api_key(request: Request) -> ApiKey | None:
    return request.auth if isinstance(request.auth, ApiKey) else None


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ValidationError("The body must be a JSON object.")
    return request.data


class ChatApi(APIView):
    """Send a message and stream the reply; the reply goes on if the client disconnects."""

    permission_classes = [HasTool("chat")]  # type: ignore[list-item]  # DRF calls each entry; a HasTool returns itself
    required_scope = "chat"
    rate_kinds = {"POST": "chat"}  # counted by the default throttle, with the API limit (one round trip)

    @extend_schema(operation_id="chat", request=ChatRequestSerializer, responses={200: SSE_RESPONSE, **error_responses(402, 503)})
    def post(self, request: Request) -> StreamingHttpResponse:
        body = ChatRequestSerializer(data=_body(request))
        body.is_valid(raise_exception=True)
        start = services.chat_start(user=request_user(request), api_key=_api_key(request), **body.validated_data)

        async def events() -> AsyncIterator[Any]:
            # The generation is its own task: this response only reads the reply's stream.
            reply_spawn(start)
            async for event in subscribe(reply_stream_key(start.reply.id), keepalive=True):
                yield event

        return sse_stream_response(events(), headers={"X-Conversation-Id": str(start.conversation.pk),
                                                      "X-Message-Id": str(start.reply.id),
                                                      **max_tokens_header(start.reservation)})


class ConversationViewSet(ScopedModelViewSet):
    """Conversations the caller owns or that are shared with their workspaces."""

    permission_classes = [HasTool("chat")]  # type: ignore[list-item]  # DRF calls each entry; a HasTool returns itself
    required_scope = "chat"
    serializer_class = ConversationSerializer

    def get_queryset(self) -> Any:
        return conversation_list(user=request_user(self.request), folder_id=self.request.query_params.get("folder_id"),
                                 search=self.request.query_params.get("search"))

    @extend_schema(parameters=[OpenApiParameter("folder_id", str), OpenApiParameter("search", str)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=ConversationCreateSerializer, responses={201: ConversationSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = ConversationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model_name = ""
        if data.validated_data["model_id"]:
            model_name = model_resolve_for_user(user=request_user(request), model=data.validated_data["model_id"]).name
        conversation = services.conversation_create(
            user=request_user(request), title=data.validated_data["title"], model_name=model_name,
            folder_id=data.validated_data["folder_id"], workspace_id=data.validated_data["workspace_id"],
        )
        return Response(ConversationSerializer(conversation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ConversationUpdateSerializer, responses={200: ConversationSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        conversation = conversation_get_for_write(user=request_user(request), conversation_id=kwargs["pk"])
        data = ConversationUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        conversation = services.conversation_update(user=request_user(request), conversation=conversation, **data.validated_data)
        return Response(ConversationSerializer(conversation).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        conversation = conversation_get_for_write(user=request_user(request), conversation_id=kwargs["pk"])
        services.conversation_delete(conversation=conversation)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConversationMessagesApi(ListAPIView):
    """A conversation's messages, oldest first."""

    permission_classes = [HasTool("chat")]  # type: ignore[list-item]  # DRF calls each entry; a HasTool returns itself
    required_scope = "chat"
    serializer_class = MessageSerializer

    def get_queryset(self) -> Any:
        conversation = conversation_get(user=request_user(self.request), conversation_id=self.kwargs["pk"])
        return selectors.message_list(user=request_user(self.request), conversation=conversation)


class ConversationStreamApi(APIView):
    """Re-attach to the reply being generated: replay from Last-Event-ID, then follow; 204 when idle."""

    permission_classes = [HasTool("chat")]  # type: ignore[list-item]  # DRF calls each entry; a HasTool returns itself
    required_scope = "chat"

    @extend_schema(operation_id="conversation_stream", responses={200: SSE_RESPONSE, 204: None})
    def get(self, request: Request, pk: str) -> HttpResponse | StreamingHttpResponse:
        conversation = conversation_get(user=request_user(request), conversation_id=pk)
        reply = selectors.message_streaming(conversation=conversation)
        if reply is None:
            return HttpResponse(status=204)
        return sse_run_response(request._request, reply_stream_key(reply.pk), headers={"X-Message-Id": str(reply.pk)})


class ConversationStopApi(APIView):
    """Stop the reply being generated; it is kept, marked `incomplete`, and charged for what was produced."""

    permission_classes = [HasTool("chat")]  # type: ignore[list-item]  # DRF calls each entry; a HasTool returns itself
    required_scope = "chat"

    @extend_schema(
        operation_id="conversation_stop", request=None,
        responses={202: inline_serializer("ConversationStopped", {"message_id": serializers.UUIDField(), "status": StrictCharField()}),
                   **error_responses(409)},
    )
    def post(self, request: Request, pk: str) -> Response:
        conversation = conversation_get_for_write(user=request_user(request), conversation_id=pk)
        reply = selectors.message_streaming(conversation=conversation)
        if reply is None:
            raise NothingGenerating()
        reply_stop(message=reply)
        return Response({"message_id": str(reply.pk), "status": "stopping"}, status=status.HTTP_202_ACCEPTED)


class FolderViewSet(ScopedModelViewSet):
    """The caller's folders."""

    permission_classes = [HasTool("chat")]  # type: ignore[list-item]  # DRF calls each entry; a HasTool returns itself
    required_scope = "chat"
    serializer_class = FolderSerializer
    selector = staticmethod(folder_list)

    def perform_create(self, serializer: BaseSerializer[Folder]) -> None:
        serializer.instance = services.folder_create(user=request_user(self.request), name=serializer.validated_data["name"])

    def perform_update(self, serializer: BaseSerializer[Folder]) -> None:
        folder = serializer.instance
        assert folder is not None  # an update always has its object
        serializer.instance = services.folder_update(folder=folder, name=serializer.validated_data.get("name", ""))

    def perform_destroy(self, instance: Any) -> None:
        services.folder_delete(folder=instance)


class CompareApi(APIView):
    """One prompt to two models at once; `?stream=true` streams both, events tagged `model: 1|2`."""

    permission_classes = [HasTool("compare")]  # type: ignore[list-item]  # DRF calls each entry; a HasTool returns itself
    required_scope = "chat"
    rate_kinds = {"POST": "compare"}

    @extend_schema(operation_id="compare", request=CompareRequestSerializer,
                   parameters=[OpenApiParameter("stream", bool)], responses={200: ComparisonSerializer, **error_responses(402, 503)})
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        data = CompareRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        start = compare_start(user=request_user(request), api_key=_api_key(request), **data.validated_data)
        if request.query_params.get("stream", "").lower() in ("1", "true", "yes"):
            async def frames() -> AsyncIterator[bytes]:
                number = 0
                async for payload in compare_stream(start):
                    number += 1
                    yield format_event(number, payload)

            return sse_response(frames(), headers=max_tokens_header(*start.reservations))
        comparison = async_to_sync(compare_run)(start)
        return Response(ComparisonSerializer(comparison).data, headers=max_tokens_header(*start.reservations))


class ComparisonViewSet(ScopedReadOnlyViewSet):
    """The caller's stored comparisons."""

    permission_classes = [HasTool("compare")]  # type: ignore[list-item]  # DRF calls each entry; a HasTool returns itself
    required_scope = "chat"
    serializer_class = ComparisonSerializer
    selector = staticmethod(comparison_list)
