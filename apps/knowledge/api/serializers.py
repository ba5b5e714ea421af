"""Serializers of the knowledge API (shapes of API.md "Knowledge")."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.serializers import ModelSerializer, Serializer, StrictCharField

from ..models import Document, Repository


class RepositorySerializer(ModelSerializer):
    """A repository with its counts; `name`, `description` and `workspace_id` are writable."""

    workspace_id = serializers.UUIDField(required=False, allow_null=True)
    document_count = serializers.SerializerMethodField()
    chunk_count = serializers.SerializerMethodField()

    class Meta:
        model = Repository
        fields = [
            "id",
            "name",
            "description",
            "workspace_id",
            "document_count",
            "chunk_count",
            "embedding_model",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "embedding_model", "created_at", "updated_at"]
        extra_kwargs = {"name": {"max_length": 200}, "description": {"required": False, "allow_blank": True}}

    def get_document_count(self, obj: Repository) -> int:
        """Documents in the repository (annotated by the selector)."""
        return int(getattr(obj, "document_count", 0) or 0)

    def get_chunk_count(self, obj: Repository) -> int:
        """Chunks over all its documents (annotated by the selector)."""
        return int(getattr(obj, "chunk_count", 0) or 0)

    def validate_name(self, value: str) -> str:
        """Names are trimmed and may not be blank."""
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value.strip()


class DocumentSerializer(ModelSerializer):
    """A document and where its ingestion stands."""

    repository_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Document
        fields = [
            "id",
            "repository_id",
            "filename",
            "content_type",
            "size",
            "status",
            "progress",
            "error",
            "chunk_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SearchResultSerializer(Serializer):
    """One search hit as API.md lists it."""

    chunk_id = serializers.UUIDField()
    document_id = serializers.UUIDField()
    repository_id = serializers.UUIDField()
    content = StrictCharField()
    score = serializers.FloatField()
    metadata = serializers.DictField()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        """Read the SearchHit dataclass's attributes."""
        return {
            "chunk_id": str(instance.chunk_id),
            "document_id": str(instance.document_id),
            "repository_id": str(instance.repository_id),
            "content": instance.content,
            "score": instance.score,
            "metadata": instance.metadata,
        }
