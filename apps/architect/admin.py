"""Django admin for Assistant Architect: tools with their fields and prompts, executions with results."""
from django.contrib import admin

from .models import Execution, InputField, Prompt, PromptResult, Tool


class InputFieldInline(admin.TabularInline):
    """A tool's input fields."""

    model = InputField
    extra = 0


class PromptInline(admin.StackedInline):
    """A tool's prompts."""

    model = Prompt
    extra = 0


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):
    """Tools."""

    list_display = ["name", "owner", "status", "workspace", "updated_at"]
    list_filter = ["status"]
    search_fields = ["name", "owner__email"]
    raw_id_fields = ["owner", "workspace"]
    inlines = [InputFieldInline, PromptInline]


class PromptResultInline(admin.TabularInline):
    """Per-prompt results, read-only."""

    model = PromptResult
    extra = 0
    can_delete = False
    fields = readonly_fields = ("position", "name", "status", "model_name", "prompt_tokens", "completion_tokens", "cost", "duration_ms", "error")


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    """Executions, to find failed, cancelled or stuck runs."""

    list_display = ["id", "tool_name", "owner", "status", "cost", "attempts", "created_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["tool_name", "owner__email"]
    raw_id_fields = ["owner", "tool"]
    readonly_fields = ["snapshot", "inputs", "error", "worker", "heartbeat_at"]
    inlines = [PromptResultInline]
