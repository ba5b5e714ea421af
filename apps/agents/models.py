"""Agents: the registry (agents and their skills), agent API keys, tasks sent to agents over A2A, trust."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils import timezone


class Visibility(models.TextChoices):
    """Public agents are listed in /discover and readable by every user; private ones by owner and workspace."""

    PUBLIC = "public", "Public"
    PRIVATE = "private", "Private"


class AgentStatus(models.TextChoices):
    """Set by heartbeats; the beat sweep marks silent agents offline."""

    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"
    DEGRADED = "degraded", "Degraded"


class Agent(models.Model):
    """An A2A agent someone registered: endpoint, skills, price per task, trust."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agents")
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.SET_NULL, null=True, blank=True, related_name="agents")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    endpoint = models.CharField(max_length=2000, help_text="The agent's A2A JSON-RPC URL.")
    protocol_version = models.CharField(max_length=8, default="0.3", help_text="A2A version the endpoint speaks: 0.3 or 1.0.")
    category = models.CharField(max_length=64, blank=True)
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    price_per_task = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    visibility = models.CharField(max_length=8, choices=Visibility.choices, default=Visibility.PUBLIC)
    status = models.CharField(max_length=8, choices=AgentStatus.choices, default=AgentStatus.OFFLINE)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    trust_score = models.FloatField(default=50.0)
    # Denormalised for discovery: the agent's tags and every skill's tags, and a full-text document.
    skill_tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    search_vector = SearchVectorField(null=True, editable=False)
    search_text = models.TextField(blank=True, editable=False)
    # The skills as the API shows them, kept with the Skill rows by the services: a list is one query.
    skills_summary = models.JSONField(default=list, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-trust_score", "name", "id"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="agents_agent_owner_idx"),
            models.Index(fields=["visibility", "-trust_score"], name="agents_agent_visible_idx"),
            models.Index(fields=["workspace"], name="agents_agent_workspace_idx"),
            GinIndex(fields=["skill_tags"], name="agents_agent_tags_gin"),
            GinIndex(fields=["search_vector"], name="agents_agent_search_gin"),
        ]

    def __str__(self) -> str:
        return self.name


class SearchTerm(models.Model):
    """A word that occurs in some agent's searchable text: the vocabulary that misspelled queries are matched against."""

    word = models.CharField(max_length=64, primary_key=True)

    class Meta:
        indexes = [GinIndex(fields=["word"], name="agents_term_trgm_gin", opclasses=["gin_trgm_ops"])]

    def __str__(self) -> str:
        return self.word


class Skill(models.Model):
    """One skill of an agent (A2A AgentSkill), with JSON Schemas for its input and output."""

    pk_id = models.BigAutoField(primary_key=True)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="skills")
    skill_id = models.CharField(max_length=100)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    input_schema = models.JSONField(null=True, blank=True)
    output_schema = models.JSONField(null=True, blank=True)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order", "skill_id"]
        constraints = [models.UniqueConstraint(fields=["agent", "skill_id"], name="agents_skill_unique_id")]

    def __str__(self) -> str:
        return f"{self.agent_id}:{self.skill_id}"


class AgentApiKey(models.Model):
    """An `nxa_` key for one agent (its heartbeats); only the SHA-256 digest is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class TaskStatus(models.TextChoices):
    """A2A task states as Nexus names them."""

    SUBMITTED = "submitted", "Submitted"
    WORKING = "working", "Working"
    INPUT_REQUIRED = "input-required", "Input required"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    TIMED_OUT = "timed_out", "Timed out"


FINAL_STATUSES = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.TIMED_OUT)


class Task(models.Model):
    """A piece of work a user sent to an agent; forwarded by a worker as A2A `message/send`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_tasks")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    input = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=TaskStatus.choices, default=TaskStatus.SUBMITTED)
    timeout_seconds = models.PositiveIntegerField()
    price = models.DecimalField(max_digits=12, decimal_places=4, default=0)
    # The agent's own task id (A2A Task.id), once it answered with one: replies and cancels name it.
    remote_task_id = models.CharField(max_length=200, blank=True)
    error = models.JSONField(null=True, blank=True)
    # The forwarding run's lease: which worker, when it last beat, how many runs this turn took.
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    deadline_at = models.DateTimeField(null=True, blank=True)
    turn = models.PositiveIntegerField(default=1, help_text="Incremented by each reply; the pending user message is the turn's.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["requester", "-created_at"], name="agents_task_requester_idx"),
            models.Index(fields=["agent", "status"], name="agents_task_agent_idx"),
            models.Index(fields=["status", "heartbeat_at"], name="agents_task_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.title or self.pk} ({self.status})"

    @property
    def is_final(self) -> bool:
        """Completed, failed, cancelled or timed out."""
        return self.status in FINAL_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        """From first forward to the end, for the speed component of trust."""
        if self.started_at is None or self.finished_at is None:
            return None
        return max((self.finished_at - self.started_at).total_seconds(), 0.0)


class TaskMessage(models.Model):
    """One message of a task's conversation (A2A Message): the requester's (`user`) or the agent's."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=8)  # user | agent
    parts = models.JSONField(default=list)
    turn = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.role} message of {self.task_id}"


class TaskArtifact(models.Model):
    """An output of a task (A2A Artifact)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="artifacts")
    artifact_id = models.CharField(max_length=200)
    name = models.CharField(max_length=200, blank=True)
    parts = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["task", "artifact_id"], name="agents_artifact_unique")]

    def __str__(self) -> str:
        return self.name or self.artifact_id


class Rating(models.Model):
    """The requester's rating of a finished task (once per task)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.OneToOneField(Task, on_delete=models.CASCADE, related_name="rating")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="ratings")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_ratings")
    rating = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [models.CheckConstraint(condition=models.Q(rating__gte=1, rating__lte=5), name="agents_rating_1_to_5")]

    def __str__(self) -> str:
        return f"{self.rating}/5 for {self.task_id}"


class TrustEvent(models.Model):
    """Something that moved an agent's trust score (a task finished, a rating), with the score after it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="trust_events")
    kind = models.CharField(max_length=32)
    task = models.ForeignKey(Task, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    score = models.FloatField()
    components = models.JSONField(default=dict)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [models.Index(fields=["agent", "-created_at"], name="agents_trust_agent_idx")]
        constraints = [models.UniqueConstraint(fields=["agent", "kind", "task"], name="agents_trust_once_per_task",
                                               condition=models.Q(task__isnull=False))]

    def __str__(self) -> str:
        return f"{self.kind}: {self.score}"
