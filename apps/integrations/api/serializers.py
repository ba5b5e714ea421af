"""Integrations API shapes: the secret goes in, never out."""
from __future__ import annotations

from rest_framework import serializers

from apps.core.serializers import ModelSerializer, Serializer, StrictCharField

from ..models import Connection


class ConnectionInputSerializer(Serializer):
    """A new connection: `secret` is write-only (a Slack bot token; none for email)."""

    kind = StrictCharField(max_length=16, help_text="slack or email")
    name = StrictCharField(max_length=100)
    secret = StrictCharField(max_length=4096, required=False, allow_blank=True, default="", write_only=True)


class ConnectionSerializer(ModelSerializer):
    """A connection as the API shows it: whether a secret is stored, never the secret."""

    secret_set = serializers.BooleanField(read_only=True)

    class Meta:
        model = Connection
        fields = ["id", "kind", "name", "secret_set", "created_at"]
        read_only_fields = fields


class ConnectionPageSerializer(Serializer):
    """A page of connections (limit/offset)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ConnectionSerializer(many=True)
