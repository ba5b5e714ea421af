"""Django admin for the knowledge app: repositories, documents, chunks and upload tickets, to look at.

Read-only: creating, re-ingesting and deleting go through the services (storage objects, embeddings
and chunk rows change together), which the dashboard and the API call.
"""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Chunk, Document, Repository, UploadTicket


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shows rows; never adds, changes or deletes them (the services do)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Rows are created by the services."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Rows are changed by the services."""
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Deleting must also remove stored files and chunks: the services do it."""
        return False


@admin.register(Repository)
class RepositoryAdmin(ReadOnlyAdmin):
    """Document repositories, private or shared with a workspace."""

    list_display = ["name", "owner", "workspace", "created_at"]
    search_fields = ["name", "owner__email"]


@admin.register(Document)
class DocumentAdmin(ReadOnlyAdmin):
    """Uploaded documents and their ingestion status."""

    list_display = ["filename", "repository", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["filename", "repository__name"]


@admin.register(Chunk)
class ChunkAdmin(ReadOnlyAdmin):
    """The passages retrieval searches."""

    list_display = ["document", "position"]
    search_fields = ["document__filename"]
    exclude = ["embedding", "search_vector"]


@admin.register(UploadTicket)
class UploadTicketAdmin(ReadOnlyAdmin):
    """Direct-upload tickets."""
