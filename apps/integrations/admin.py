"""Django admin for connections: the secret is never shown (only whether one is stored)."""
from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import Connection


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    """Read and delete users' connections; secrets are saved through the API only (encrypted)."""

    list_display = ["name", "kind", "owner", "secret_set", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "owner__email"]
    readonly_fields = ["id", "owner", "kind", "name", "created_at"]
    exclude = ["secret_encrypted"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
