"""Agents in the Django admin: the registry, keys (prefix only), tasks with their conversation, trust."""
from __future__ import annotations

from typing import Any

from django.contrib import admin

from .models import Agent, AgentApiKey, Rating, Skill, Task, TaskArtifact, TaskMessage, TrustEvent
from .services import agent_search_refresh


class SkillInline(admin.TabularInline):
    """An agent's skills."""

    model = Skill
    extra = 0
    fields = ["skill_id", "name", "description", "tags", "order"]


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    """Registered agents."""

    list_display = ["name", "owner", "visibility", "status", "trust_score", "price_per_task", "last_heartbeat_at"]
    list_filter = ["visibility", "status", "category"]
    search_fields = ["name", "description", "owner__email"]
    readonly_fields = ["trust_score", "last_heartbeat_at", "skill_tags", "created_at", "updated_at"]
    exclude = ["search_vector", "search_text"]
    inlines = [SkillInline]

    def save_related(self, request: Any, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        agent_search_refresh(agent=form.instance)  # skills edited inline: the summary and search fields follow


@admin.register(AgentApiKey)
class AgentApiKeyAdmin(admin.ModelAdmin):
    """Agent keys: the prefix only; the secret is never stored."""

    list_display = ["name", "agent", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["agent", "prefix", "digest", "created_at", "last_used_at"]

    def has_add_permission(self, request: object) -> bool:
        return False


class TaskMessageInline(admin.TabularInline):
    """A task's conversation."""

    model = TaskMessage
    extra = 0
    readonly_fields = ["role", "parts", "turn", "created_at"]


class TaskArtifactInline(admin.TabularInline):
    """A task's outputs."""

    model = TaskArtifact
    extra = 0
    readonly_fields = ["artifact_id", "name", "parts", "created_at"]


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    """Tasks sent to agents (read-only: their ends move money)."""

    list_display = ["__str__", "agent", "requester", "status", "price", "created_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["title", "agent__name", "requester__email"]
    readonly_fields = [f.name for f in Task._meta.fields]
    inlines = [TaskMessageInline, TaskArtifactInline]

    def has_add_permission(self, request: object) -> bool:
        return False


admin.site.register(Rating)
admin.site.register(TrustEvent)
