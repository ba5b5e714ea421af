"""Integrations data: a user's connections to outside services, each secret encrypted at rest."""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class ConnectionKind(models.TextChoices):
    """The services a connection can be for."""

    SLACK = "slack", "Slack (bot token)"
    # Mail goes through the platform's own mail settings; the connection is the user's opt-in to send_email.
    EMAIL = "email", "Email (the platform's mail settings)"


class Connection(models.Model):
    """One user's connection to an outside service; the secret is a Fernet token and never leaves the server."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="connections")
    kind = models.CharField(max_length=16, choices=ConnectionKind.choices)
    name = models.CharField(max_length=100)
    # Fernet token (apps.llm.crypto, the provider keys' scheme); never serialized, never logged.
    secret_encrypted = models.TextField(blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "id"]
        # One per kind: the integration tools use "the caller's slack connection" without asking which.
        constraints = [models.UniqueConstraint(fields=["owner", "kind"], name="integrations_one_connection_per_kind")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.name}"

    @property
    def secret_set(self) -> bool:
        """Whether a secret is stored (the secret itself is never shown)."""
        return bool(self.secret_encrypted)
