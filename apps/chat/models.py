"""Chat: folders, conversations, messages (replies stored as they grow), comparisons."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Folder(models.Model):
    """A user's folder of conversations."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_folders")
    name = models.CharField(max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "created_at"]

    def __str__(self) -> str:
        return self.name


class Conversation(models.Model):
    """A thread of messages with one user (optionally shared with a workspace)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.SET_NULL, null=True, blank=True, related_name="conversations")
    folder = models.ForeignKey(Folder, on_delete=models.SET_NULL, null=True, blank=True, related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    model_name = models.CharField(max_length=120, blank=True, help_text="Slug of the model last used.")
    provider = models.CharField(max_length=40, blank=True)
    message_count = models.PositiveIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_message_at", "-created_at"]
        indexes = [models.Index(fields=["owner", "-last_message_at"]), models.Index(fields=["workspace"])]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.id}"


class MessageStatus(models.TextChoices):
    """Where a message stands; replies are `streaming` until they end one of the other ways."""

    STREAMING = "streaming", "Streaming"
    COMPLETE = "complete", "Complete"
    INCOMPLETE = "incomplete", "Incomplete (stopped or orphaned)"
    FAILED = "failed", "Failed (provider error)"


class Message(models.Model):
    """One message; an assistant reply is saved while it streams (at least once a second)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=[("system", "system"), ("user", "user"), ("assistant", "assistant"), ("tool", "tool")])
    content = models.TextField(blank=True)
    reasoning = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=MessageStatus.choices, default=MessageStatus.COMPLETE)
    model_name = models.CharField(max_length=120, blank=True)
    token_usage = models.JSONField(null=True, blank=True)
    sources = models.JSONField(null=True, blank=True)
    tool_calls = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    usage_record_id = models.UUIDField(null=True, blank=True)
    # host:pid of the process generating it, so a reaper can tell an orphan from a slow reply.
    generator = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"]), models.Index(fields=["status", "updated_at"])]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"


class Comparison(models.Model):
    """The same prompt answered by two models side by side."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comparisons")
    prompt = models.TextField()
    system_prompt = models.TextField(blank=True)
    model1_name = models.CharField(max_length=120)
    model2_name = models.CharField(max_length=120)
    model1 = models.JSONField(default=dict, help_text="{response, tokens, duration_ms, cost, status, error}")
    model2 = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.model1_name} vs {self.model2_name}: {self.prompt[:40]}"
