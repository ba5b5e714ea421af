"""Workflows serializers: the shapes of API.md's Workflows section."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.serializers import ModelSerializer, Serializer, StrictCharField

from ..models import Run, StepRun, Workflow


class RetryPolicySerializer(Serializer):
    """`{max_retries, backoff_ms}`."""

    max_retries = serializers.IntegerField(min_value=0, max_value=10, required=False)
    backoff_ms = serializers.IntegerField(min_value=0, max_value=600000, required=False)


class StepSerializer(Serializer):
    """One step: `{name, kind, config, depends_on, timeout, retry_policy}` (checked in full by the service)."""

    name = StrictCharField()
    kind = StrictCharField(help_text="agent_task | llm | architect | http | knowledge_search | condition")
    config = serializers.JSONField()
    depends_on = serializers.ListField(child=serializers.IntegerField(), required=False)
    timeout = serializers.IntegerField(required=False, help_text="Seconds (default 60).")
    retry_policy = RetryPolicySerializer(required=False)


class WorkflowWriteSerializer(Serializer):
    """POST/PATCH body; the step list is validated by the service (details per `steps.<i>.<field>`)."""

    name = StrictCharField(required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    max_cost = serializers.DecimalField(max_digits=14, decimal_places=6, required=False, allow_null=True, coerce_to_string=False)
    steps = StepSerializer(many=True, required=False)
    workspace_id = serializers.UUIDField(required=False, allow_null=True)


class WorkflowSerializer(ModelSerializer):
    """A workflow (never its trigger secret)."""

    workspace_id = serializers.UUIDField(read_only=True, allow_null=True)
    owner_id = serializers.UUIDField(read_only=True)
    max_cost = serializers.DecimalField(max_digits=14, decimal_places=6, read_only=True, allow_null=True, coerce_to_string=False)
    steps = serializers.JSONField(read_only=True)

    class Meta:
        model = Workflow
        fields = ["id", "name", "description", "max_cost", "steps", "version", "owner_id", "workspace_id", "created_at", "updated_at"]
        read_only_fields = fields


class WorkflowCreatedSerializer(WorkflowSerializer):
    """A new workflow with its trigger secret, shown this once."""

    trigger_secret = serializers.SerializerMethodField()

    class Meta(WorkflowSerializer.Meta):
        fields = [*WorkflowSerializer.Meta.fields, "trigger_secret"]
        read_only_fields = fields

    def get_trigger_secret(self, workflow: Workflow) -> str:
        return str(self.context.get("trigger_secret", ""))


class StepRunSerializer(ModelSerializer):
    """One attempt of one step."""

    cost = serializers.DecimalField(max_digits=14, decimal_places=6, read_only=True, coerce_to_string=False)
    duration_ms = serializers.SerializerMethodField()

    class Meta:
        model = StepRun
        fields = ["index", "name", "kind", "attempt", "status", "input", "output", "error", "logs", "cost", "tokens",
                  "started_at", "finished_at", "duration_ms"]
        read_only_fields = fields

    def get_duration_ms(self, step: StepRun) -> int | None:
        if step.started_at is None or step.finished_at is None:
            return None
        return int((step.finished_at - step.started_at).total_seconds() * 1000)


class RunListSerializer(ModelSerializer):
    """A run in a list."""

    workflow_id = serializers.UUIDField(read_only=True)
    cost = serializers.DecimalField(max_digits=14, decimal_places=6, read_only=True, coerce_to_string=False)

    class Meta:
        model = Run
        fields = ["id", "workflow_id", "version", "status", "trigger", "input", "error", "cost", "total_tokens",
                  "created_at", "started_at", "finished_at"]
        read_only_fields = fields


class RunSerializer(RunListSerializer):
    """A run with its steps (latest attempt each) and every attempt."""

    steps = serializers.SerializerMethodField()
    attempts = serializers.SerializerMethodField()
    events_url = serializers.SerializerMethodField()

    class Meta(RunListSerializer.Meta):
        fields = [*RunListSerializer.Meta.fields, "steps", "attempts", "events_url"]
        read_only_fields = fields

    def _attempts(self, run: Run) -> list[StepRun]:
        if not hasattr(run, "_attempts_cache"):
            run._attempts_cache = list(run.step_runs.order_by("index", "attempt"))  # type: ignore[attr-defined]
        return run._attempts_cache  # type: ignore[attr-defined]

    def get_steps(self, run: Run) -> list[dict[str, Any]]:
        latest = {attempt.index: attempt for attempt in self._attempts(run)}
        return [{"index": index, "name": step["name"], "kind": step["kind"], "depends_on": step["depends_on"],
                 **({k: v for k, v in StepRunSerializer(latest[index]).data.items() if k not in ("index", "name", "kind")}
                    if index in latest else {"status": "pending", "attempt": 0})}
                for index, step in enumerate(run.steps)]

    def get_attempts(self, run: Run) -> list[dict[str, Any]]:
        return list(StepRunSerializer(self._attempts(run), many=True).data)

    def get_events_url(self, run: Run) -> str:
        return f"/api/v1/runs/{run.pk}/events"


class WorkflowDetailSerializer(WorkflowSerializer):
    """A workflow with its recent runs."""

    recent_runs = serializers.SerializerMethodField()

    class Meta(WorkflowSerializer.Meta):
        fields = [*WorkflowSerializer.Meta.fields, "recent_runs"]
        read_only_fields = fields

    def get_recent_runs(self, workflow: Workflow) -> list[dict[str, Any]]:
        return list(RunListSerializer(workflow.runs.order_by("-created_at")[:10], many=True).data)


class ExecuteSerializer(Serializer):
    """POST /workflows/{id}/execute: `{input?}`."""

    input = serializers.JSONField(required=False, allow_null=True)


class TriggerSecretSerializer(Serializer):
    """`{trigger_secret}`, shown once."""

    trigger_secret = StrictCharField()


class HookAcceptedSerializer(Serializer):
    """`{success, execution_id}`."""

    success = serializers.BooleanField()
    execution_id = serializers.UUIDField()


class ScheduleWriteSerializer(Serializer):
    """POST /workflows/{id}/schedules: `{cron, timezone?, input?}`."""

    cron = StrictCharField(help_text="Five cron fields: minute hour day-of-month month day-of-week.")
    timezone = StrictCharField(required=False, help_text="IANA name (default UTC).")
    input = serializers.JSONField(required=False, allow_null=True)


class ScheduleSerializer(Serializer):
    """A schedule."""

    id = serializers.UUIDField()
    workflow_id = serializers.UUIDField()
    cron = StrictCharField()
    timezone = StrictCharField()
    input = serializers.JSONField()
    enabled = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_enabled(self, schedule: Any) -> bool:
        return bool(schedule.periodic_task_id and schedule.periodic_task.enabled)


def _page(name: str, item: type[serializers.BaseSerializer]) -> type[serializers.Serializer]:
    """A limit/offset page of `item` (API.md, Conventions)."""
    return type(name, (serializers.Serializer,), {
        "__doc__": f"A page of {item.__name__.removesuffix('Serializer')} (limit/offset).",
        "count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True), "results": item(many=True),
    })


WorkflowPageSerializer = _page("WorkflowPageSerializer", WorkflowSerializer)
RunPageSerializer = _page("RunPageSerializer", RunListSerializer)
SchedulePageSerializer = _page("SchedulePageSerializer", ScheduleSerializer)
