"""Django admin for Forge: builds with their files, templates, deployments, and the build statistics."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse

from .models import Build, BuildFile, Deployment, Template
from .selectors import build_statistics


class BuildFileInline(admin.TabularInline):
    """A build's generated files (read-only)."""

    model = BuildFile
    extra = 0
    fields = ["path", "language", "check_error", "fixed"]
    readonly_fields = ["path", "language", "check_error", "fixed"]
    can_delete = False


@admin.register(Build)
class BuildAdmin(admin.ModelAdmin):
    """Builds, newest first; the change list links the statistics."""

    list_display = ["__str__", "owner", "status", "progress", "cost", "created_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["prompt", "app_name", "owner__email"]
    raw_id_fields = ["owner", "template"]
    readonly_fields = ["status", "progress", "message", "spec", "error", "cost", "total_tokens", "calls", "worker", "heartbeat_at",
                       "attempts", "started_at", "finished_at", "package_key"]
    inlines = [BuildFileInline]

    def get_urls(self) -> list[Any]:
        from django.urls import path

        return [path("statistics/", self.admin_site.admin_view(self.statistics_view), name="forge_build_statistics"),
                *super().get_urls()]

    def statistics_view(self, request: HttpRequest) -> TemplateResponse:
        """Builds per day and month, success rate, median time and cost, active sessions."""
        context = {**self.admin_site.each_context(request), "title": "Forge statistics", "stats": build_statistics()}
        return TemplateResponse(request, "forge/admin_statistics.html", context)


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    """The template catalogue."""

    list_display = ["id", "name", "category", "position", "active"]
    list_editable = ["position", "active"]


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    """Deployed apps."""

    list_display = ["slug", "owner", "environment", "status", "updated_at"]
    list_filter = ["status", "environment"]
    raw_id_fields = ["owner", "build"]
    readonly_fields = ["version", "files"]
