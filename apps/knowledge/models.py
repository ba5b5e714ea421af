"""Knowledge: repositories of documents, split into chunks with a vector and a full-text index.

A repository is embedded with one model only (`Repository.embedding_model`); every chunk records
the model that produced its vector, and search only compares a query with chunks of the model
that embedded the query, so two vector spaces are never mixed.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from pgvector.django import HnswIndex, VectorField

EMBEDDING_DIMENSIONS = 384
# The text search configuration of the `search_vector` column; queries must use the same one.
SEARCH_CONFIG = "english"


class Repository(models.Model):
    """A named collection of documents that is searched as one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="knowledge_repositories")
    # Shared with this workspace (members read; the owner and workspace owners/admins write); null = private.
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.SET_NULL, null=True, blank=True, related_name="knowledge_repositories"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    # The embedding model of every chunk in this repository ("" until the first document is embedded).
    embedding_model = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="knowledge_repo_owner_idx")]

    def __str__(self) -> str:
        return self.name


class DocumentStatus(models.TextChoices):
    """Where a document is in the ingestion pipeline."""

    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class Document(models.Model):
    """One uploaded file, its ingestion state, and the storage key of its original bytes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="documents")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.BigIntegerField()
    # Name of the original file in the default storage (a key in the bucket when S3 is on).
    file_key = models.CharField(max_length=500)
    status = models.CharField(max_length=20, choices=DocumentStatus.choices, default=DocumentStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0, help_text="0-100 while processing.")
    error = models.TextField(blank=True, default="")
    chunk_count = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The Celery task id of the run that owns the document while it is `processing`: a redelivered
    # message (same id) may resume it, any other run must leave it alone.
    ingest_token = models.CharField(max_length=255, blank=True, default="")
    processing_started_at = models.DateTimeField(null=True, blank=True)
    # Touched at every progress step; a `processing` document whose heartbeat is old lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["repository", "-created_at"], name="knowledge_doc_repo_idx"),
            models.Index(fields=["status", "heartbeat_at"], name="knowledge_doc_status_idx"),
        ]

    def __str__(self) -> str:
        return self.filename


class Chunk(models.Model):
    """A passage of a document with its embedding, its full-text vector and where it came from."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    # Denormalised from the document so that the repository filter of a search is one column.
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField()
    content = models.TextField()
    token_count = models.PositiveIntegerField(default=0)
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS)
    embedding_model = models.CharField(max_length=200)
    # {"page": int|None, "heading": str|None, ...}
    metadata = models.JSONField(default=dict, blank=True)
    search_vector = models.GeneratedField(
        expression=SearchVector("content", config=SEARCH_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["document", "position"]
        constraints = [models.UniqueConstraint(fields=["document", "position"], name="knowledge_chunk_doc_position_unique")]
        indexes = [
            HnswIndex(
                name="knowledge_chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(fields=["search_vector"], name="knowledge_chunk_fts_gin"),
            models.Index(fields=["repository", "embedding_model"], name="knowledge_chunk_repo_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.position}"


class UploadTicket(models.Model):
    """A presigned S3 upload issued to one user; `confirm` accepts only keys issued to the caller."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="upload_tickets")
    # The bucket key given to the browser, and the storage name the document will carry.
    file_key = models.CharField(max_length=500, unique=True)
    storage_name = models.CharField(max_length=500)
    file_name = models.CharField(max_length=255)
    file_type = models.CharField(max_length=100)
    file_size = models.BigIntegerField()
    expires_at = models.DateTimeField()
    document = models.OneToOneField(Document, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.file_key
