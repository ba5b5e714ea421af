"""Shared artifacts: content a user published at an unguessable link, until revoked or expired."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class ArtifactContentType(models.TextChoices):
    """What the content is; `text/html` is only ever served sandboxed."""

    PLAIN = "text/plain", "Plain text"
    MARKDOWN = "text/markdown", "Markdown"
    HTML = "text/html", "HTML"
    JSON = "application/json", "JSON"


class Artifact(models.Model):
    """A shared snapshot: content copied at share time, found by the SHA-256 of its link's token."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="artifacts")
    title = models.CharField(max_length=200)
    content_type = models.CharField(max_length=32, choices=ArtifactContentType.choices)
    content = models.TextField(blank=True)
    # The chat message it was shared from (a copy: later edits do not change the shared page).
    message = models.ForeignKey("chat.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # The link: looked up by SHA-256 (a database lookup of the digest, never a comparison of the token),
    # and kept Fernet-encrypted so its owner can copy the link again from their list.
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    token_encrypted = models.TextField(editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return self.title

    @property
    def expired(self) -> bool:
        """Whether the link has passed its expiry."""
        return self.expires_at is not None and self.expires_at <= timezone.now()
