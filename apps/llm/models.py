"""LLM data: provider connections (encrypted keys), the model registry with prices, usage records."""
from __future__ import annotations

import uuid
from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MinValueValidator
from django.db import models


class ProviderKind(models.TextChoices):
    """One wire protocol per kind; `openai` covers every OpenAI-compatible server."""

    OPENAI = "openai", "OpenAI or OpenAI-compatible"
    ANTHROPIC = "anthropic", "Anthropic"
    GEMINI = "gemini", "Google Gemini"
    LOCAL = "local", "Built-in offline responder"


class ProviderSource(models.TextChoices):
    """Where a connection's settings came from."""

    ADMIN = "admin", "Admin"
    ENV = "env", "Environment"
    SEED = "seed", "Seed"


class ProviderConnection(models.Model):
    """How Nexus reaches one provider: kind, base URL and an API key encrypted at rest."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=ProviderKind.choices)
    base_url = models.URLField(max_length=500, blank=True, default="")
    # Fernet token (apps.llm.crypto); never serialized, never logged.
    api_key_encrypted = models.TextField(blank=True, default="", editable=False)
    timeout_seconds = models.FloatField(default=60.0, validators=[MinValueValidator(0.1)])
    active = models.BooleanField(default=True)
    source = models.CharField(max_length=8, choices=ProviderSource.choices, default=ProviderSource.ADMIN)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True, blank=True)
    last_check_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def has_api_key(self) -> bool:
        """True when a key is stored (its value is never exposed)."""
        return bool(self.api_key_encrypted)

    @property
    def is_usable(self) -> bool:
        """Active and able to authenticate: local needs nothing, a custom base URL may need no key."""
        if not self.active:
            return False
        if self.kind == ProviderKind.LOCAL:
            return True
        return self.has_api_key or bool(self.base_url and self.kind == ProviderKind.OPENAI)


class LlmModel(models.Model):
    """A model Nexus offers: which provider serves it, its prices (credits per 1M tokens) and tiers."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.SlugField(max_length=100, unique=True, help_text="The public name, e.g. the gateway's `model`.")
    provider = models.ForeignKey(ProviderConnection, on_delete=models.PROTECT, related_name="models")
    provider_model = models.CharField(max_length=200, help_text="The provider's own model name.")
    capabilities = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    input_cost = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal(0), validators=[MinValueValidator(0)])
    output_cost = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal(0), validators=[MinValueValidator(0)])
    # Speech-to-text models (`stt`) are priced per minute of audio; text-to-speech (`tts`) per 1M characters (input_cost).
    audio_cost_per_minute = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal(0), validators=[MinValueValidator(0)],
                                                help_text="Credits per minute of transcribed audio (stt models).")
    context_window = models.PositiveIntegerField(default=8192)
    max_output_tokens = models.PositiveIntegerField(default=4096)
    # Tier slugs allowed to use the model; an empty list means every tier.
    tiers = ArrayField(models.SlugField(max_length=32), default=list, blank=True)
    active = models.BooleanField(default=True)
    # Part of the shipped catalogue: activated when its provider gets a key.
    seeded = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "model"

    def __str__(self) -> str:
        return self.name

    def allows_tier(self, tier: str) -> bool:
        """True when `tier` may use this model."""
        return not self.tiers or tier in self.tiers


class UsageStatus(models.TextChoices):
    """How a call ended."""

    COMPLETED = "completed", "Completed"
    STOPPED = "stopped", "Stopped by the consumer"
    FAILED = "failed", "Failed"


class UsageSource(models.TextChoices):
    """Where the token counts came from."""

    PROVIDER = "provider", "Reported by the provider"
    ESTIMATED = "estimated", "Counted locally"


class UsageRecord(models.Model):
    """Exactly one row per model call: who, which model, tokens, cost, timings and outcome."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="llm_usage")
    # Plain ids so that metering never blocks on the lifecycle of keys and workspaces.
    api_key_id = models.UUIDField(null=True, blank=True)
    workspace_id = models.UUIDField(null=True, blank=True)
    model = models.ForeignKey(LlmModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="usage")
    model_name = models.CharField(max_length=100)
    provider_name = models.CharField(max_length=64)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    reasoning_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal(0))
    usage_source = models.CharField(max_length=16, choices=UsageSource.choices, default=UsageSource.PROVIDER)
    status = models.CharField(max_length=16, choices=UsageStatus.choices)
    error_code = models.CharField(max_length=32, blank=True, default="")
    error_message = models.CharField(max_length=500, blank=True, default="")
    latency_ms = models.PositiveIntegerField(default=0)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    streamed = models.BooleanField(default=False)
    origin = models.CharField(max_length=32, default="api", help_text="Which feature made the call (chat, gateway, ...).")
    request_id = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["model_name", "created_at"]), models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"{self.model_name} {self.status} {self.total_tokens} tok"
