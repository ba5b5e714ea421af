"""Assistant Architect: tools (input fields + prompts), executions, and one result per prompt run."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class ToolStatus(models.TextChoices):
    """Drafts are their owner's; published tools are usable by everyone with the tool."""

    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    ARCHIVED = "archived", "Archived"


class FieldType(models.TextChoices):
    """Kinds of input field; every value reaches the prompts as text."""

    TEXT = "text", "Text"
    TEXTAREA = "textarea", "Text area"
    NUMBER = "number", "Number"
    SELECT = "select", "Select"
    FILE = "file", "File (its text)"


class Tool(models.Model):
    """A prompt chain: input fields and prompts run by position."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="architect_tools")
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.SET_NULL, null=True, blank=True, related_name="architect_tools")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=ToolStatus.choices, default=ToolStatus.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "id"]
        indexes = [models.Index(fields=["owner", "-updated_at"]), models.Index(fields=["status"]), models.Index(fields=["workspace"])]

    def __str__(self) -> str:
        return self.name


class InputField(models.Model):
    """One input of a tool, referred to in prompts as {{name}}."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tool = models.ForeignKey(Tool, on_delete=models.CASCADE, related_name="input_fields")
    name = models.CharField(max_length=64)
    label = models.CharField(max_length=200, blank=True)
    type = models.CharField(max_length=16, choices=FieldType.choices, default=FieldType.TEXT)
    required = models.BooleanField(default=True)
    options = models.JSONField(default=list, blank=True, help_text="Choices of a `select` field.")
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "name"]
        constraints = [models.UniqueConstraint(fields=["tool", "name"], name="architect_field_unique_name")]

    def __str__(self) -> str:
        return self.name


class Prompt(models.Model):
    """One prompt of a tool; prompts of the same position run in parallel."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tool = models.ForeignKey(Tool, on_delete=models.CASCADE, related_name="prompts")
    name = models.CharField(max_length=64)
    position = models.PositiveIntegerField()
    model_name = models.CharField(max_length=120, help_text="Registry name (slug) of the model.")
    model_id = models.UUIDField(null=True, blank=True, help_text="Registry id of the model when saved.")
    system_prompt = models.TextField(blank=True)
    content = models.TextField()
    parallel_group = models.CharField(max_length=64, blank=True)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "order"]
        constraints = [models.UniqueConstraint(fields=["tool", "name"], name="architect_prompt_unique_name")]

    def __str__(self) -> str:
        return f"{self.position}. {self.name}"


class ExecutionStatus(models.TextChoices):
    """Where an execution stands; the last three are final."""

    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINAL_STATUSES = (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)


class Execution(models.Model):
    """One run of a tool; the chain as it was when started is kept in `snapshot`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tool = models.ForeignKey(Tool, on_delete=models.SET_NULL, null=True, blank=True, related_name="executions")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="architect_executions")
    tool_name = models.CharField(max_length=200)
    snapshot = models.JSONField(help_text="{input_fields, prompts} as they were when the execution started.")
    inputs = models.JSONField(default=dict)
    conversation_id = models.UUIDField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING)
    error = models.JSONField(null=True, blank=True)
    total_prompts = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    # Which worker runs it and when it last said so: a reaper re-queues or fails it when that goes stale.
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    deadline_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [models.Index(fields=["owner", "-created_at"]), models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"{self.tool_name} ({self.status})"

    @property
    def duration_ms(self) -> int | None:
        """Wall time from start to end (None while it has not ended)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


class ResultStatus(models.TextChoices):
    """Where one prompt of an execution stands."""

    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class PromptResult(models.Model):
    """What one prompt produced in one execution; unique per (execution, prompt), so it is run and charged once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="results")
    prompt_id = models.UUIDField(help_text="The prompt's id in the execution's snapshot.")
    name = models.CharField(max_length=64)
    position = models.PositiveIntegerField()
    model_name = models.CharField(max_length=120, blank=True)
    status = models.CharField(max_length=16, choices=ResultStatus.choices, default=ResultStatus.RUNNING)
    output = models.TextField(blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    usage_record_id = models.UUIDField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position", "started_at"]
        constraints = [models.UniqueConstraint(fields=["execution", "prompt_id"], name="architect_result_once_per_prompt")]

    def __str__(self) -> str:
        return f"{self.name}: {self.status}"

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens
