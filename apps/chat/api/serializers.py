"""Chat serializers: shapes of API.md's Chat section."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.serializers import ModelSerializer, Serializer, StrictCharField, StrictChoiceField

from ..models import Comparison, Conversation, Folder, Message


class FolderSerializer(ModelSerializer):
    """A folder."""

    class Meta:
        model = Folder
        fields = ["id", "name", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class ConversationSerializer(ModelSerializer):
    """A conversation as listed."""

    model_used = StrictCharField(source="model_name", read_only=True)
    folder_id = serializers.UUIDField(allow_null=True, required=False)
    workspace_id = serializers.UUIDField(allow_null=True, required=False)

    class Meta:
        model = Conversation
        fields = ["id", "title", "message_count", "last_message_at", "provider", "model_used", "folder_id", "workspace_id",
                  "created_at", "updated_at"]
        read_only_fields = ["id", "message_count", "last_message_at", "provider", "model_used", "created_at", "updated_at"]


class ConversationCreateSerializer(Serializer):
    """POST /conversations."""

    title = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    model_id = StrictCharField(max_length=120, required=False, allow_blank=True, default="")
    folder_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    workspace_id = serializers.UUIDField(required=False, allow_null=True, default=None)


class ConversationUpdateSerializer(Serializer):
    """PATCH /conversations/{id}: rename, move, share."""

    title = StrictCharField(max_length=200, required=False, allow_blank=True)
    folder_id = serializers.UUIDField(required=False, allow_null=True)
    workspace_id = serializers.UUIDField(required=False, allow_null=True)


class MessageSerializer(ModelSerializer):
    """A stored message."""

    model = StrictCharField(source="model_name", read_only=True)

    class Meta:
        model = Message
        fields = ["id", "role", "content", "reasoning", "status", "created_at", "token_usage", "model", "sources", "tool_calls", "error"]
        read_only_fields = fields


class ChatMessageSerializer(Serializer):
    """One `{role, content}` of a chat request (deeper checks happen in the LLM client)."""

    role = StrictCharField()
    content = serializers.JSONField()

    def to_internal_value(self, data: Any) -> Any:
        validated = super().to_internal_value(data)
        # Other OpenAI message keys (tool_calls, tool_call_id, name) go on to the LLM client, which checks them.
        return {**data, **validated}


class ChatRequestSerializer(Serializer):
    """POST /chat: validated here; the service gets typed arguments."""

    messages = ChatMessageSerializer(many=True)
    model_id = StrictCharField()
    conversation_id = serializers.UUIDField(required=False)
    system_prompt = StrictCharField(required=False)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2)
    max_tokens = serializers.IntegerField(required=False, min_value=1)
    repository_ids = serializers.ListField(child=serializers.UUIDField(), required=False)
    document_ids = serializers.ListField(child=serializers.UUIDField(), required=False)
    tools = serializers.ListField(child=StrictCharField(max_length=64), required=False, max_length=20,
                                  help_text="Platform tools the model may call (names from GET /tools).")
    max_tool_rounds = serializers.IntegerField(required=False, min_value=1, max_value=10,
                                               help_text="How many rounds of tool calls the server runs (default 5).")


class CompareRequestSerializer(Serializer):
    """POST /compare."""

    prompt = StrictCharField(max_length=100_000)
    model1_id = StrictCharField(max_length=120)
    model2_id = StrictCharField(max_length=120)
    system_prompt = StrictCharField(required=False, allow_blank=True, default="")


class CompareUsageSerializer(Serializer):
    """The token breakdown of one side of a comparison."""

    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class CompareSideSerializer(Serializer):
    """One model's answer in a comparison: `tokens` is the total (API.md), `usage` the breakdown."""

    model = StrictCharField()
    response = StrictCharField(allow_blank=True)
    tokens = serializers.IntegerField(allow_null=True)
    usage = CompareUsageSerializer(allow_null=True, required=False)
    duration_ms = serializers.IntegerField(allow_null=True)
    cost = serializers.FloatField(allow_null=True)
    status = StrictChoiceField(choices=["complete", "failed"])
    error = serializers.DictField(allow_null=True)

    def to_representation(self, instance: Any) -> Any:
        side = dict(instance)
        if isinstance(side.get("tokens"), dict):  # comparisons stored before `tokens` became the total
            side["usage"] = side["tokens"]
            side["tokens"] = side["tokens"].get("total_tokens")
        side.setdefault("usage", None)
        return {key: side.get(key) for key in self.fields}


class ComparisonSerializer(ModelSerializer):
    """A stored comparison."""

    comparison_id = serializers.UUIDField(source="id", read_only=True)
    model1 = CompareSideSerializer(read_only=True)
    model2 = CompareSideSerializer(read_only=True)

    class Meta:
        model = Comparison
        fields = ["comparison_id", "prompt", "system_prompt", "model1_name", "model2_name", "model1", "model2", "created_at"]
        read_only_fields = fields
