"""Forge: builds (prompt -> specification -> files -> package), their files, templates, deployments."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class BuildStatus(models.TextChoices):
    """API.md's statuses; the running ones are also the phases of the pipeline, in this order."""

    INITIALIZING = "initializing", "Initializing"
    ANALYZING = "analyzing", "Analyzing"
    GENERATING_SPEC = "generating_spec", "Generating specification"
    BUILDING = "building", "Building"
    OPTIMIZING = "optimizing", "Optimizing"
    DEPLOYING = "deploying", "Deploying"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


PHASES = (BuildStatus.ANALYZING, BuildStatus.GENERATING_SPEC, BuildStatus.BUILDING, BuildStatus.OPTIMIZING, BuildStatus.DEPLOYING)
FINAL_STATUSES = (BuildStatus.COMPLETED, BuildStatus.FAILED, BuildStatus.CANCELLED)
RUNNING_STATUSES = tuple(s for s in BuildStatus.values if s not in FINAL_STATUSES)


class Template(models.Model):
    """A starting point for a build: a prompt and config the caller can customise."""

    id = models.SlugField(primary_key=True, max_length=64)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=64, blank=True)
    example_prompt = models.TextField()
    features = models.JSONField(default=list, blank=True)
    config = models.JSONField(default=dict, blank=True)
    estimated_build_time = models.CharField(max_length=32, default="1-3 minutes")
    position = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class Build(models.Model):
    """One build session: the prompt, its phases, the specification, cost, and how it ended."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="forge_builds")
    template = models.ForeignKey(Template, on_delete=models.SET_NULL, null=True, blank=True, related_name="builds")
    prompt = models.TextField()
    config = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=BuildStatus.choices, default=BuildStatus.INITIALIZING)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=300, blank=True, help_text="The latest progress line.")
    model_name = models.CharField(max_length=100, blank=True)
    analysis = models.TextField(blank=True)
    spec = models.JSONField(null=True, blank=True)
    app_name = models.CharField(max_length=120, blank=True)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    calls = models.PositiveIntegerField(default=0)
    error = models.JSONField(null=True, blank=True, help_text="{phase, error_code, message, retry_possible} when failed or cancelled.")
    package_key = models.CharField(max_length=300, blank=True, help_text="Storage key of the zip.")
    screenshots = models.JSONField(default=list, blank=True, help_text="[{page, path, key, url}] taken in headless Chromium.")
    mockups = models.JSONField(default=list, blank=True, help_text="[{page, key, url}] made by an `image` model.")
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [models.Index(fields=["owner", "-created_at"]), models.Index(fields=["status"])]

    def __str__(self) -> str:
        return self.app_name or self.prompt[:60]

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to end (or None while it has not ended)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)


class BuildFile(models.Model):
    """One generated file of a build."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    build = models.ForeignKey(Build, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=200)
    purpose = models.CharField(max_length=300, blank=True)
    language = models.CharField(max_length=20, blank=True)
    content = models.TextField(blank=True)
    check_error = models.CharField(max_length=500, blank=True, help_text="Why the file failed its check (empty: it passed).")
    fixed = models.BooleanField(default=False, help_text="A fix call rewrote it after a failed check.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["build", "path"], name="forge_file_unique_path")]

    def __str__(self) -> str:
        return self.path

    @property
    def size(self) -> int:
        """Bytes of the content (UTF-8)."""
        return len(self.content.encode())


class DeploymentStatus(models.TextChoices):
    """A deployment serves its current version until it is undeployed."""

    DEPLOYED = "deployed", "Deployed"
    UNDEPLOYED = "undeployed", "Undeployed"


class Deployment(models.Model):
    """A build's app published at /apps/<slug>/ from storage; `version` names the files being served."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    build = models.OneToOneField(Build, on_delete=models.CASCADE, related_name="deployment")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="forge_deployments")
    slug = models.SlugField(max_length=80, unique=True)
    environment = models.CharField(max_length=20, default="preview")
    domain = models.CharField(max_length=253, blank=True)
    status = models.CharField(max_length=20, choices=DeploymentStatus.choices, default=DeploymentStatus.DEPLOYED)
    version = models.CharField(max_length=40, blank=True, help_text="Storage folder of the files being served.")
    files = models.JSONField(default=list, blank=True, help_text="Paths of the served version.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.slug
