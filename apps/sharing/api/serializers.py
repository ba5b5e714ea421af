"""Shared-artifact API shapes."""
from __future__ import annotations

from rest_framework import serializers

from apps.core.serializers import Serializer, StrictCharField

from ..services import MAX_EXPIRES_IN


class ArtifactInputSerializer(Serializer):
    """`{title, content_type, content}` or `{title, message_id}`, with `expires_in` seconds optional."""

    title = StrictCharField(max_length=200, required=False, allow_blank=True, default="",
                            help_text="Required with content; with message_id it defaults to the conversation's title.")
    content_type = StrictCharField(max_length=32, required=False,
                                   help_text="text/plain, text/markdown, text/html or application/json (with content)")
    # Not trimmed: shared text is kept exactly as given; the size cap (413) is checked by the service.
    content = StrictCharField(required=False, allow_blank=True, trim_whitespace=False)
    message_id = serializers.UUIDField(required=False, help_text="A chat message the caller can see.")
    expires_in = serializers.IntegerField(required=False, min_value=1, max_value=MAX_EXPIRES_IN,
                                          help_text="Seconds until the link stops working; none: until revoked.")


class ArtifactSerializer(Serializer):
    """A shared artifact as its owner sees it: the link (token and page URL), expiry, source."""

    id = serializers.UUIDField()
    title = serializers.CharField()
    content_type = serializers.CharField()
    token = serializers.CharField()
    url = serializers.URLField()
    message_id = serializers.UUIDField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    expired = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class ArtifactPageSerializer(Serializer):
    """A page of shared artifacts (limit/offset)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ArtifactSerializer(many=True)


class SharedArtifactSerializer(Serializer):
    """A shared artifact as anyone holding the link sees it (nothing about its owner)."""

    title = serializers.CharField()
    content_type = serializers.CharField()
    content = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
