"""Django admin for shared artifacts (the link token is never shown; deleting revokes)."""
from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import Artifact


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    """List, read and revoke (delete) shared artifacts."""

    list_display = ["title", "content_type", "owner", "expires_at", "created_at"]
    list_filter = ["content_type"]
    search_fields = ["title", "owner__email"]
    readonly_fields = ["id", "owner", "title", "content_type", "content", "message", "expires_at", "created_at"]
    exclude = ["token_digest", "token_encrypted"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
