"""Forge serializers: the shapes of API.md's Forge section."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.serializers import ModelSerializer, Serializer, StrictCharField

from ..models import Build, BuildFile, Template
from ..sites import deployment_url


def websocket_path(build: Build) -> str:
    """Where a client follows a build's progress."""
    return f"/ws/forge/{build.pk}"


class BuildStartSerializer(Serializer):
    """POST /forge/builds: `{prompt, config?}`; `config` is `{stack?, styling?}` from the documented choices."""

    prompt = StrictCharField(allow_blank=True, trim_whitespace=False)
    config = serializers.JSONField(required=False, allow_null=True)


class FromTemplateSerializer(Serializer):
    """POST /forge/builds/from-template: `{template_id, customizations?}`."""

    template_id = StrictCharField()
    customizations = serializers.JSONField(required=False, allow_null=True)


class BuildStartedSerializer(Serializer):
    """202 answer of a started build."""

    session_id = serializers.UUIDField()
    status = StrictCharField(help_text="build_started")
    websocket_url = StrictCharField()
    estimated_duration = StrictCharField()


class DeploySerializer(Serializer):
    """POST /forge/builds/{id}/deploy: `{environment?, domain?}`."""

    environment = StrictCharField(required=False, help_text="preview | staging | production (default production)")
    domain = StrictCharField(required=False, allow_blank=True, max_length=253)


class DeploymentOutSerializer(Serializer):
    """A deployment: `{deployment_id, status, deployment_url, environment, domain}`."""

    deployment_id = serializers.UUIDField()
    status = StrictCharField()
    deployment_url = StrictCharField(allow_null=True)
    environment = StrictCharField()
    domain = StrictCharField(allow_blank=True)


class BuildFileSerializer(ModelSerializer):
    """One generated file."""

    size = serializers.IntegerField(read_only=True)

    class Meta:
        model = BuildFile
        fields = ["path", "language", "purpose", "size", "fixed", "check_error", "content"]
        read_only_fields = fields


def _deployment_url(build: Build) -> str | None:
    deployment = getattr(build, "deployment", None) if hasattr(build, "deployment") else None
    if deployment is None or deployment.status != "deployed":
        return None
    return deployment_url(deployment.slug)


class BuildListSerializer(ModelSerializer):
    """A build in the list."""

    session_id = serializers.UUIDField(source="id", read_only=True)
    current_phase = serializers.CharField(source="status", read_only=True)
    completed_at = serializers.DateTimeField(source="finished_at", read_only=True, allow_null=True)
    deployment_url = serializers.SerializerMethodField()

    class Meta:
        model = Build
        fields = ["id", "session_id", "prompt", "status", "progress", "current_phase", "message", "app_name", "created_at",
                  "started_at", "completed_at", "deployment_url"]
        read_only_fields = fields

    def get_deployment_url(self, build: Build) -> str | None:
        return _deployment_url(build)


class BuildPageSerializer(Serializer):
    """A page of builds (limit/offset)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = BuildListSerializer(many=True)


class BuildResultSerializer(Serializer):
    """What a build produced."""

    specification = serializers.JSONField(allow_null=True)
    files = BuildFileSerializer(many=True)
    cost = serializers.FloatField()
    total_tokens = serializers.IntegerField()
    model_calls = serializers.IntegerField()
    build_time_seconds = serializers.FloatField(allow_null=True)
    deployment_url = StrictCharField(allow_null=True)
    screenshots = serializers.ListField(child=serializers.DictField())
    mockups = serializers.ListField(child=serializers.DictField())


class BuildSerializer(BuildListSerializer):
    """A build with its configuration, result and error (GET /forge/builds/{id})."""

    result = serializers.SerializerMethodField()
    websocket_url = serializers.SerializerMethodField()
    error = serializers.JSONField(read_only=True, allow_null=True, help_text="{phase, error_code, message, retry_possible}")
    config = serializers.JSONField(read_only=True)

    class Meta(BuildListSerializer.Meta):
        fields = [*BuildListSerializer.Meta.fields, "config", "model_name", "template_id", "analysis", "error", "websocket_url", "result"]
        read_only_fields = fields

    def get_websocket_url(self, build: Build) -> str:
        return websocket_path(build)

    def get_result(self, build: Build) -> dict[str, Any]:
        return BuildResultSerializer({
            "specification": build.spec, "files": list(build.files.order_by("path")), "cost": float(build.cost),
            "total_tokens": build.total_tokens, "model_calls": build.calls, "build_time_seconds": build.duration_seconds,
            "deployment_url": _deployment_url(build),
            "mockups": [{k: v for k, v in shot.items() if k != "key"} for shot in build.mockups or []],
            "screenshots": [{k: v for k, v in shot.items() if k != "key"} for shot in build.screenshots or []],
        }).data


class TemplateSerializer(ModelSerializer):
    """A template of the catalogue."""

    class Meta:
        model = Template
        fields = ["id", "name", "description", "category", "example_prompt", "features", "config", "estimated_build_time"]
        read_only_fields = fields


class StatisticsSerializer(Serializer):
    """Admin build statistics."""

    period_days = serializers.IntegerField()
    builds_per_day = serializers.ListField(child=serializers.DictField())
    builds_per_month = serializers.ListField(child=serializers.DictField())
    total = serializers.IntegerField()
    completed = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    success_rate = serializers.FloatField(allow_null=True)
    median_seconds = serializers.FloatField(allow_null=True)
    median_cost = serializers.FloatField(allow_null=True)
    active_sessions = serializers.IntegerField()
