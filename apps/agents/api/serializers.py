"""Agents API shapes: input serializers check types; the services check the rules (schemas, endpoint, sharing)."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.serializers import Serializer, StrictCharField, StrictChoiceField

from ..models import Agent, AgentApiKey, AgentStatus, Task, TaskStatus, TrustEvent, Visibility


class SkillSerializer(Serializer):
    """One skill: `{id, name, description, tags, input_schema, output_schema}` (schemas are JSON Schema objects)."""

    id = StrictCharField(max_length=100)
    name = StrictCharField(max_length=200, required=False, allow_blank=True)
    description = StrictCharField(required=False, allow_blank=True, max_length=5000)
    tags = serializers.ListField(child=StrictCharField(max_length=64), required=False, max_length=30)
    input_schema = serializers.JSONField(required=False, allow_null=True)
    output_schema = serializers.JSONField(required=False, allow_null=True)


class AgentWriteSerializer(Serializer):
    """Register or change an agent; POST may give `card_url` (an A2A agent card) instead of the fields."""

    name = StrictCharField(max_length=200, required=False)
    description = StrictCharField(required=False, allow_blank=True, max_length=20000)
    endpoint = StrictCharField(max_length=2000, required=False)
    protocol_version = StrictChoiceField(choices=["0.3", "1.0"], required=False)
    category = StrictCharField(max_length=64, required=False, allow_blank=True)
    skills = SkillSerializer(many=True, required=False)
    tags = serializers.ListField(child=StrictCharField(max_length=64), required=False, max_length=30)
    metadata = serializers.DictField(required=False)
    price_per_task = serializers.DecimalField(max_digits=12, decimal_places=4, min_value=0, required=False)
    visibility = StrictChoiceField(choices=Visibility.values, required=False)
    workspace_id = serializers.UUIDField(required=False, allow_null=True)
    card_url = StrictCharField(max_length=2000, required=False)


class AgentSerializer(serializers.ModelSerializer):
    """An agent as every reader sees it."""

    owner_id = serializers.UUIDField(read_only=True)
    workspace_id = serializers.UUIDField(read_only=True, allow_null=True)
    skills = serializers.SerializerMethodField()
    is_owner = serializers.SerializerMethodField()

    class Meta:
        model = Agent
        fields = ["id", "name", "description", "endpoint", "protocol_version", "category", "skills", "tags", "metadata",
                  "price_per_task", "visibility", "workspace_id", "owner_id", "is_owner", "status", "last_heartbeat_at",
                  "trust_score", "created_at", "updated_at"]
        read_only_fields = fields

    def get_skills(self, agent: Agent) -> list[dict[str, Any]]:
        return list(agent.skills_summary)

    def get_is_owner(self, agent: Agent) -> bool:
        request = self.context.get("request")
        return bool(request is not None and getattr(request.user, "pk", None) == agent.owner_id)


class HeartbeatSerializer(Serializer):
    """`{status?, metadata?}`."""

    status = StrictChoiceField(choices=AgentStatus.values, required=False)
    metadata = serializers.DictField(required=False)


class HeartbeatOutputSerializer(Serializer):
    """The agent's status after the beat."""

    agent_id = serializers.UUIDField()
    status = StrictCharField()
    last_heartbeat_at = serializers.DateTimeField()


class AgentKeySerializer(serializers.ModelSerializer):
    """An agent key without its secret."""

    agent_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = AgentApiKey
        fields = ["id", "agent_id", "name", "prefix", "created_at", "last_used_at"]
        read_only_fields = fields


class AgentKeyCreatedSerializer(AgentKeySerializer):
    """A new agent key, with `key` shown this once."""

    key = serializers.CharField(read_only=True)

    class Meta(AgentKeySerializer.Meta):
        fields = [*AgentKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class AgentKeyCreateSerializer(Serializer):
    """`{name}`."""

    name = StrictCharField(max_length=100, required=False, allow_blank=True)


class TaskCreateSerializer(Serializer):
    """`{assigned_agent_id, title, description, input, timeout_seconds}`."""

    assigned_agent_id = serializers.UUIDField()
    title = StrictCharField(max_length=200, required=False, allow_blank=True)
    description = StrictCharField(max_length=100000, required=False, allow_blank=True)
    input = serializers.JSONField(required=False)
    timeout_seconds = serializers.IntegerField(min_value=1, required=False)


class TaskReplySerializer(Serializer):
    """A reply: `{message, data?}` from the requester to an input-required task, or, with the agent's key,
    `{message, artifacts?, status?}` from the agent. `message` is text or `{role?, parts: [...]}`."""

    message = serializers.JSONField(required=False)
    data = serializers.DictField(required=False)  # type: ignore[assignment]  # DRF moves declared fields off the class
    artifacts = serializers.ListField(child=serializers.DictField(), required=False, max_length=50)
    status = StrictChoiceField(choices=["working", "input-required", "completed", "failed"], required=False)


class TaskListSerializer(serializers.ModelSerializer):
    """A task without its conversation."""

    assigned_agent_id = serializers.UUIDField(source="agent_id", read_only=True)
    agent_name = serializers.CharField(source="agent.name", read_only=True)
    requester_id = serializers.UUIDField(read_only=True)
    status = StrictChoiceField(choices=TaskStatus.values, read_only=True)

    class Meta:
        model = Task
        fields = ["id", "assigned_agent_id", "agent_name", "requester_id", "title", "description", "input", "status",
                  "timeout_seconds", "price", "error", "created_at", "started_at", "finished_at", "updated_at"]
        read_only_fields = fields


class TaskSerializer(TaskListSerializer):
    """A task with its messages and artifacts."""

    messages = serializers.SerializerMethodField()
    artifacts = serializers.SerializerMethodField()
    rating = serializers.SerializerMethodField()

    class Meta(TaskListSerializer.Meta):
        fields = [*TaskListSerializer.Meta.fields, "messages", "artifacts", "rating"]
        read_only_fields = fields

    def get_messages(self, task: Task) -> list[dict[str, Any]]:
        return [{"id": str(m.pk), "role": m.role, "parts": m.parts, "created_at": m.created_at} for m in task.messages.all()]

    def get_artifacts(self, task: Task) -> list[dict[str, Any]]:
        return [{"artifact_id": a.artifact_id, "name": a.name, "parts": a.parts, "created_at": a.created_at} for a in task.artifacts.all()]

    def get_rating(self, task: Task) -> int | None:
        rating = getattr(task, "rating", None) if hasattr(task, "rating") else None
        return rating.rating if rating is not None else None


class TrustEventSerializer(serializers.ModelSerializer):
    """One event that moved an agent's trust score."""

    task_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = TrustEvent
        fields = ["id", "kind", "task_id", "score", "components", "detail", "created_at"]
        read_only_fields = fields


class TrustSerializer(Serializer):
    """`{agent_id, trust_score, components: {reliability, speed, quality, tenure}, recent_events}`."""

    agent_id = serializers.UUIDField()
    trust_score = serializers.FloatField()
    components = serializers.DictField(child=serializers.FloatField())
    recent_events = TrustEventSerializer(many=True)


class RateSerializer(Serializer):
    """`{task_id, rating: 1..5, comment}`."""

    task_id = serializers.UUIDField()
    rating = serializers.IntegerField(min_value=1, max_value=5)
    comment = StrictCharField(max_length=5000, required=False, allow_blank=True)


class RatingSerializer(Serializer):
    """A stored rating."""

    id = serializers.UUIDField()
    task_id = serializers.UUIDField()
    agent_id = serializers.UUIDField()
    rating = serializers.IntegerField()
    comment = serializers.CharField()
    created_at = serializers.DateTimeField()
