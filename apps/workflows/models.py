"""Workflows: versioned DAG definitions, their runs, and one StepRun per (run, step, attempt)."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class StepKind(models.TextChoices):
    """What a step does (API.md, Workflows)."""

    LLM = "llm", "Model call"
    CONDITION = "condition", "Condition"
    HTTP = "http", "HTTP request"
    KNOWLEDGE_SEARCH = "knowledge_search", "Knowledge search"
    ARCHITECT = "architect", "Architect chain"
    AGENT_TASK = "agent_task", "Agent task"


class RunStatus(models.TextChoices):
    """A run's lifecycle."""

    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class StepStatus(models.TextChoices):
    """A step's lifecycle inside a run; `skipped` when a dependency failed or a condition was false."""

    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    SKIPPED = "skipped", "Skipped"


class Trigger(models.TextChoices):
    """What started a run."""

    MANUAL = "manual", "Manual"
    WEBHOOK = "webhook", "Webhook"
    SCHEDULE = "schedule", "Schedule"
    RESUME = "resume", "Resume"


RUN_ENDED = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)
STEP_ENDED = (StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.CANCELLED, StepStatus.SKIPPED)


class Workflow(models.Model):
    """A DAG of steps; every change of its steps makes a new version (kept in WorkflowVersion)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workflows")
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.SET_NULL, null=True, blank=True, related_name="workflows")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    max_cost = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True, help_text="Credits a run may spend.")
    steps = models.JSONField(default=list)
    version = models.PositiveIntegerField(default=1)
    # Encrypted at rest (the webhook HMAC needs the secret itself); shown in full once, at creation or rotation.
    trigger_secret_encrypted = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "id"]
        indexes = [models.Index(fields=["owner", "-updated_at"]), models.Index(fields=["workspace"])]

    def __str__(self) -> str:
        return self.name


class WorkflowVersion(models.Model):
    """The steps and budget of one version of a workflow, as runs of that version saw them."""

    id = models.BigAutoField(primary_key=True)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    steps = models.JSONField(default=list)
    max_cost = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workflow", "-version"]
        constraints = [models.UniqueConstraint(fields=["workflow", "version"], name="workflows_version_unique")]

    def __str__(self) -> str:
        return f"{self.workflow_id} v{self.version}"


class Run(models.Model):
    """One execution of a workflow version; its state lives here so any worker can advance it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="runs")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workflow_runs",
                             help_text="Who started it (and pays for it).")
    version = models.PositiveIntegerField()
    steps = models.JSONField(default=list, help_text="The definition this run follows (a copy of its version's steps).")
    max_cost = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    input = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    idempotency_key = models.CharField(max_length=200, blank=True)
    error = models.JSONField(null=True, blank=True)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [models.Index(fields=["workflow", "-created_at"]), models.Index(fields=["status"])]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "idempotency_key"], condition=~models.Q(idempotency_key=""),
                                    name="workflows_run_idempotency_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.workflow_id} run {self.pk}"


class StepRun(models.Model):
    """One attempt of one step of a run: input, output, error, timings, cost and log lines."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="step_runs")
    index = models.PositiveIntegerField()
    name = models.CharField(max_length=64)
    kind = models.CharField(max_length=32, choices=StepKind.choices)
    attempt = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.PENDING)
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    logs = models.JSONField(default=list, blank=True)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    tokens = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the worker holding it (empty: queued).")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The architect execution or agent task this attempt started ("architect:<id>", "agent_task:<id>"):
    # an attempt re-run after its worker died follows it instead of starting (and paying for) another.
    external_ref = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "index", "attempt"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]
        constraints = [models.UniqueConstraint(fields=["run", "index", "attempt"], name="workflows_steprun_unique")]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.name}#{self.attempt}"


class Schedule(models.Model):
    """A cron schedule of a workflow, run by Celery beat from the database (its django-celery-beat PeriodicTask)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="schedules")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="workflow_schedules",
                                   help_text="Whose runs these are (and who pays for them).")
    cron = models.CharField(max_length=120)
    timezone = models.CharField(max_length=64, default="UTC")
    input = models.JSONField(default=dict, blank=True)
    periodic_task = models.OneToOneField("django_celery_beat.PeriodicTask", on_delete=models.SET_NULL, null=True, blank=True,
                                         related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.workflow_id} {self.cron} {self.timezone}"
