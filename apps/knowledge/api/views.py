"""HTTP views of the knowledge API: parse, call a service or selector, render."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import BasePermission, OperandHolder, SingleOperandHolder
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.caller import request_user
from apps.accounts.limits import rate_check
from apps.accounts.permissions import HasTool
from apps.core.errors import ValidationError
from apps.core.openapi import error_responses
from apps.core.pagination import LimitOffsetPagination
from apps.core.serializers import Serializer, StrictCharField, StrictChoiceField
from apps.core.viewsets import ScopedModelViewSet, ScopedViewSetMixin

from .. import services, storage
from ..models import Document, Repository
from ..search import MAX_LIMIT, MODES
from ..selectors import (
    document_get_for_user,
    document_list_for_repository,
    document_list_for_user,
    repository_get_for_user,
    repository_list_for_user,
)
from .serializers import DocumentSerializer, RepositorySerializer, SearchResultSerializer


class KnowledgeToolMixin:
    """Every knowledge route needs the `knowledge` tool; API keys need the `knowledge` scope."""

    permission_classes: Sequence[type[BasePermission] | OperandHolder | SingleOperandHolder] = [HasTool("knowledge")]  # type: ignore[list-item]  # DRF calls each entry; a HasTool returns itself
    required_scope = "knowledge"


# ------------------------------------------------------------------------------
# Repositories
# ------------------------------------------------------------------------------
class RepositoryViewSet(KnowledgeToolMixin, ScopedModelViewSet):
    """The caller's repositories: list, create, read, rename, delete (with every document)."""

    selector = staticmethod(repository_list_for_user)
    serializer_class = RepositorySerializer

    def perform_create(self, serializer: serializers.BaseSerializer[Repository]) -> None:
        repository = services.repository_create(user=request_user(self.request), **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=repository.pk)

    def perform_update(self, serializer: serializers.BaseSerializer[Repository]) -> None:
        repository = serializer.instance
        assert repository is not None  # an update always has its object
        services.repository_update(user=request_user(self.request), repository=repository, **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=repository.pk)

    def perform_destroy(self, instance: Repository) -> None:
        services.repository_delete(user=request_user(self.request), repository=instance)


class RepositoryDocumentsApi(KnowledgeToolMixin, ListAPIView):
    """GET: the repository's documents (paginated). POST: upload one file (multipart `file`) -> 202."""

    parser_classes = [MultiPartParser, FormParser]
    serializer_class = DocumentSerializer
    pagination_class = LimitOffsetPagination

    class OutputSerializer(Serializer):
        class Meta:
            ref_name = "RepositoryDocumentsOutput"

        document_id = serializers.UUIDField(source="id")
        filename = StrictCharField()
        status = StrictCharField()

    def get_queryset(self) -> Any:
        return document_list_for_repository(user=request_user(self.request), repository_id=self.kwargs["repository_id"])

    @extend_schema(operation_id="knowledge_documents_list")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="knowledge_documents_upload",
        request={"multipart/form-data": inline_serializer("DocumentUpload", {"file": serializers.FileField()})},
        responses={202: OutputSerializer},
    )
    def post(self, request: Request, repository_id: Any) -> Response:
        repository = repository_get_for_user(user=request_user(request), repository_id=repository_id)
        rate_check(request, kind="upload")
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError("Send the file as the multipart field `file`.", details={"file": ["No file was submitted."]})
        document = services.document_upload(user=request_user(request), repository=repository, upload=upload)
        return Response(self.OutputSerializer(document).data, status=status.HTTP_202_ACCEPTED)


# ------------------------------------------------------------------------------
# Documents
# ------------------------------------------------------------------------------
class DocumentViewSet(KnowledgeToolMixin, ScopedViewSetMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """One document: read it, or delete it with its file, chunks and vectors."""

    selector = staticmethod(document_list_for_user)
    serializer_class = DocumentSerializer

    def perform_destroy(self, instance: Document) -> None:
        services.document_delete(user=request_user(self.request), document=instance)


class DocumentDownloadApi(KnowledgeToolMixin, APIView):
    """The original bytes of a document, as an attachment."""

    # The file's own Content-Type (text/plain, application/pdf, ...), whatever was uploaded.
    @extend_schema(operation_id="documents_download", responses={(200, "*/*"): OpenApiTypes.BINARY})
    def get(self, request: Request, document_id: Any) -> FileResponse:
        document = document_get_for_user(user=request_user(request), document_id=document_id)
        response = FileResponse(
            storage.file_open(document.file_key), as_attachment=True, filename=document.filename, content_type=document.content_type
        )
        response["Content-Length"] = str(document.size)
        return response


class DocumentReprocessApi(KnowledgeToolMixin, APIView):
    """Run extraction and embedding again (replaces the document's chunks) -> 202."""

    @extend_schema(operation_id="documents_reprocess", request=None, responses={202: DocumentSerializer, **error_responses(409)})
    def post(self, request: Request, document_id: Any) -> Response:
        document = document_get_for_user(user=request_user(request), document_id=document_id)
        document = services.document_reprocess(user=request_user(request), document=document)
        return Response(DocumentSerializer(document).data, status=status.HTTP_202_ACCEPTED)


class DocumentUploadUrlApi(KnowledgeToolMixin, APIView):
    """A presigned S3 POST for one file (409 when files are stored locally)."""

    class InputSerializer(Serializer):
        class Meta:
            ref_name = "DocumentUploadUrlInput"

        file_name = StrictCharField(max_length=255)
        file_type = StrictCharField(max_length=100)
        file_size = serializers.IntegerField(min_value=1)
        repository_id = serializers.UUIDField()

    class OutputSerializer(Serializer):
        class Meta:
            ref_name = "DocumentUploadUrlOutput"

        presigned_url = StrictCharField()
        file_key = StrictCharField()
        fields = serializers.DictField(child=StrictCharField())  # type: ignore[assignment]  # a declared field (DRF moves it to _declared_fields), not the Field attribute of that name

    @extend_schema(operation_id="documents_upload_url", request=InputSerializer, responses={200: OutputSerializer, **error_responses(409)})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        repository = repository_get_for_user(user=request_user(request), repository_id=data.validated_data["repository_id"])
        rate_check(request, kind="upload")
        answer = services.document_upload_url(
            user=request_user(request),
            repository=repository,
            file_name=data.validated_data["file_name"],
            file_type=data.validated_data["file_type"],
            file_size=data.validated_data["file_size"],
        )
        return Response(self.OutputSerializer(answer).data)


class DocumentConfirmApi(KnowledgeToolMixin, APIView):
    """Register an object posted to S3 with a presigned POST as a document -> 202."""

    class InputSerializer(Serializer):
        class Meta:
            ref_name = "DocumentConfirmInput"

        file_key = StrictCharField(max_length=500)
        file_name = StrictCharField(max_length=255, required=False)
        file_type = StrictCharField(max_length=100, required=False)
        repository_id = serializers.UUIDField()

    class OutputSerializer(Serializer):
        class Meta:
            ref_name = "DocumentConfirmOutput"

        document_id = serializers.UUIDField(source="id")
        filename = StrictCharField()
        status = StrictCharField()

    @extend_schema(operation_id="documents_confirm", request=InputSerializer, responses={202: OutputSerializer, **error_responses(409)})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        repository = repository_get_for_user(user=request_user(request), repository_id=data.validated_data["repository_id"])
        document = services.document_confirm(
            user=request_user(request),
            file_key=data.validated_data["file_key"],
            repository=repository,
            file_name=data.validated_data.get("file_name"),
        )
        return Response(self.OutputSerializer(document).data, status=status.HTTP_202_ACCEPTED)


# ------------------------------------------------------------------------------
# Search
# ------------------------------------------------------------------------------
class KnowledgeSearchApi(KnowledgeToolMixin, APIView):
    """Vector, keyword or hybrid search over the caller's repositories (all readable ones by default)."""

    class InputSerializer(Serializer):
        class Meta:
            ref_name = "KnowledgeSearchInput"

        query = StrictCharField(max_length=2000)
        repository_ids = serializers.ListField(child=serializers.UUIDField(), required=False, allow_null=True, max_length=200)
        limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=10)
        mode = StrictChoiceField(choices=MODES, default="hybrid")

    class OutputSerializer(Serializer):
        class Meta:
            ref_name = "KnowledgeSearchOutput"

        results = SearchResultSerializer(many=True)

    @extend_schema(operation_id="knowledge_search", request=InputSerializer, responses={200: OutputSerializer, **error_responses(503)})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        hits = services.knowledge_search(
            user=request_user(request),
            query=data.validated_data["query"],
            repository_ids=data.validated_data.get("repository_ids"),
            limit=data.validated_data["limit"],
            mode=data.validated_data["mode"],
        )
        return Response(self.OutputSerializer({"results": hits}).data)
