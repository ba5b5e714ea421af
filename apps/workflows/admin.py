"""Workflows in the Django admin: definitions with their versions, runs with their step attempts."""
from django.contrib import admin

from .models import Run, StepRun, Workflow, WorkflowVersion


class WorkflowVersionInline(admin.TabularInline):
    """A workflow's saved versions (read only)."""

    model = WorkflowVersion
    extra = 0
    readonly_fields = ["version", "steps", "max_cost", "created_by", "created_at"]
    can_delete = False


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    """Workflows (the trigger secret is never shown)."""

    list_display = ["name", "owner", "workspace", "version", "updated_at"]
    search_fields = ["name", "owner__email"]
    readonly_fields = ["version", "created_at", "updated_at"]
    exclude = ["trigger_secret_encrypted"]
    inlines = [WorkflowVersionInline]


class StepRunInline(admin.TabularInline):
    """A run's step attempts (read only)."""

    model = StepRun
    extra = 0
    readonly_fields = ["index", "name", "kind", "attempt", "status", "output", "error", "cost", "tokens", "started_at", "finished_at"]
    exclude = ["input", "logs"]
    can_delete = False


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    """Runs with their steps."""

    list_display = ["id", "workflow", "user", "version", "status", "trigger", "cost", "created_at"]
    list_filter = ["status", "trigger"]
    search_fields = ["id", "workflow__name"]
    readonly_fields = ["workflow", "user", "version", "steps", "input", "status", "error", "cost", "total_tokens", "started_at", "finished_at"]
    inlines = [StepRunInline]
