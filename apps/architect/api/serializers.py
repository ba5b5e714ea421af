"""Assistant Architect serializers: the shapes of API.md's Assistant Architect section."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.serializers import ModelSerializer, Serializer, StrictCharField

from ..models import Execution, InputField, Prompt, Tool
from ..runner import results_payload


class InputFieldSerializer(ModelSerializer):
    """One input field of a tool."""

    type = StrictCharField(help_text="text | textarea | number | select | file")

    class Meta:
        model = InputField
        fields = ["name", "label", "type", "required", "options"]


class PromptSerializer(ModelSerializer):
    """One prompt of a tool; `model_id` is the id of `/api/v1/models` (its name is accepted on write)."""

    model_id = serializers.SerializerMethodField()

    class Meta:
        model = Prompt
        fields = ["id", "name", "position", "model_id", "model_name", "system_prompt", "content", "parallel_group"]

    def get_model_id(self, prompt: Prompt) -> str:
        return str(prompt.model_id) if prompt.model_id else prompt.model_name


class ToolSerializer(ModelSerializer):
    """A tool with its input fields and prompts (read shape)."""

    input_fields = InputFieldSerializer(many=True, read_only=True)
    prompts = PromptSerializer(many=True, read_only=True)
    owner_id = serializers.UUIDField(read_only=True)
    workspace_id = serializers.UUIDField(read_only=True, allow_null=True)
    can_edit = serializers.SerializerMethodField()
    status = StrictCharField(read_only=True, help_text="draft | published | archived")

    class Meta:
        model = Tool
        fields = ["id", "name", "description", "status", "owner_id", "workspace_id", "input_fields", "prompts", "can_edit",
                  "created_at", "updated_at"]
        read_only_fields = fields

    def get_can_edit(self, tool: Tool) -> bool:
        from ..selectors import tool_can_write

        request = self.context.get("request")
        if not request:
            return False
        return tool_can_write(user=request.user, tool=tool)


class InputFieldWriteSerializer(Serializer):
    """An input field as written (deeper checks happen in the service)."""

    name = StrictCharField()
    label = StrictCharField(required=False, allow_blank=True)  # type: ignore[assignment]  # a declared field (DRF moves it to _declared_fields), not the Field attribute of that name
    type = StrictCharField(required=False)
    required = serializers.BooleanField(required=False)  # type: ignore[assignment]  # a declared field (DRF moves it to _declared_fields), not the Field attribute of that name
    options = serializers.ListField(child=StrictCharField(), required=False)


class PromptWriteSerializer(Serializer):
    """A prompt as written."""

    name = StrictCharField()
    position = serializers.IntegerField(min_value=1)
    model_id = StrictCharField()
    system_prompt = StrictCharField(required=False, allow_blank=True)
    content = StrictCharField()
    parallel_group = StrictCharField(required=False, allow_blank=True)


class ToolWriteSerializer(Serializer):
    """POST/PATCH /architect/tools (documentation; the service validates field by field)."""

    name = StrictCharField(max_length=200)
    description = StrictCharField(required=False, allow_blank=True)
    status = StrictCharField(required=False, help_text="draft | published | archived")
    workspace_id = serializers.UUIDField(required=False, allow_null=True)
    input_fields = InputFieldWriteSerializer(many=True, required=False)
    prompts = PromptWriteSerializer(many=True, required=False)


class ExecuteRequestSerializer(Serializer):
    """POST /architect/execute."""

    tool_id = serializers.UUIDField(error_messages={"required": "Required."})
    # Checked against the tool's own input fields by the service (per-field messages).
    inputs = serializers.JSONField(required=False, allow_null=True, default=dict, help_text="An object: one value per input field of the tool.")
    conversation_id = serializers.UUIDField(required=False, allow_null=True, default=None)


class ExecutionSerializer(ModelSerializer):
    """An execution with its status and per-prompt results."""

    tool_id = serializers.UUIDField(read_only=True, allow_null=True)
    duration_ms = serializers.IntegerField(read_only=True, allow_null=True)
    cost = serializers.FloatField(read_only=True)
    status = StrictCharField(read_only=True, help_text="pending | running | completed | failed | cancelled")
    results = serializers.SerializerMethodField()

    class Meta:
        model = Execution
        fields = ["id", "tool_id", "tool_name", "status", "inputs", "conversation_id", "error", "total_prompts", "cost", "total_tokens",
                  "duration_ms", "attempts", "created_at", "started_at", "finished_at", "results"]
        read_only_fields = fields

    def get_results(self, execution: Execution) -> list[dict[str, Any]]:
        return results_payload(execution)


class ExecutionListSerializer(ExecutionSerializer):
    """An execution as listed (no results)."""

    class Meta(ExecutionSerializer.Meta):
        fields = [f for f in ExecutionSerializer.Meta.fields if f not in ("results", "inputs")]
        read_only_fields = fields
