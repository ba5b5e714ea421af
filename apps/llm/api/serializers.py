"""Serializers of the llm API: provider connections (write-only key), models, metrics query."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.serializers import ModelSerializer, Serializer, StrictCharField, StrictChoiceField

from ..models import LlmModel, ProviderConnection, ProviderKind


@extend_schema_field({"type": "string", "anyOf": [{"format": "uri"}, {"maxLength": 0}]})
class OptionalUrlField(StrictCharField):
    """A URL, or "" for none; the schema says both, where DRF's URLField documents a URL only."""

    default_error_messages = {"invalid_url": "Enter a valid URL."}

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        # Checked here, not in `validators`, which drf-spectacular would turn back into `format: uri` alone.
        try:
            URLValidator()(value)
        except DjangoValidationError:
            self.fail("invalid_url")
        return value


class ProviderSerializer(ModelSerializer):
    """A provider connection; `api_key` is accepted on writes and never shown, `api_key_set` says if one is stored."""

    api_key = StrictCharField(write_only=True, required=False, allow_blank=True, max_length=500, trim_whitespace=True,
                                    style={"input_type": "password"})
    api_key_set = serializers.BooleanField(source="has_api_key", read_only=True)
    # "" means the vendor's own endpoint.
    base_url = OptionalUrlField(required=False, allow_blank=True, max_length=500)
    usable = serializers.BooleanField(source="is_usable", read_only=True)
    kind = StrictChoiceField(choices=ProviderKind.choices)
    timeout_seconds = serializers.FloatField(required=False, min_value=0.1, max_value=3600)

    class Meta:
        model = ProviderConnection
        fields = ["id", "name", "kind", "base_url", "api_key", "api_key_set", "usable", "timeout_seconds", "active", "source",
                  "last_checked_at", "last_check_ok", "last_check_error", "created_at", "updated_at"]
        read_only_fields = ["id", "source", "last_checked_at", "last_check_ok", "last_check_error", "created_at", "updated_at"]
        # Uniqueness answers 409 from the service, not a 400 from the serializer.
        extra_kwargs: dict[str, dict[str, Any]] = {"name": {"validators": []}}


class ProviderTestOutputSerializer(Serializer):
    """The outcome of a test connection."""

    ok = serializers.BooleanField()
    models = serializers.ListField(child=StrictCharField())
    error = StrictCharField(allow_null=True)


class CostField(serializers.DecimalField):
    """Credits per 1M tokens, as a JSON number."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=12, decimal_places=4, min_value=0, coerce_to_string=False, **kwargs)


class ModelAdminSerializer(ModelSerializer):
    """A registry entry as admins see it; `provider` is the connection's name."""

    provider = serializers.SlugRelatedField(slug_field="name", queryset=ProviderConnection.objects.all())
    capabilities = serializers.ListField(child=StrictCharField(max_length=32), required=False, max_length=20)
    tiers = serializers.ListField(child=serializers.SlugField(max_length=32), required=False, max_length=20)
    input_cost = CostField()
    output_cost = CostField()
    audio_cost_per_minute = CostField(required=False)
    context_window = serializers.IntegerField(min_value=1, max_value=100_000_000, required=False)
    max_output_tokens = serializers.IntegerField(min_value=1, max_value=10_000_000, required=False)

    class Meta:
        model = LlmModel
        fields = ["id", "name", "provider", "provider_model", "capabilities", "input_cost", "output_cost", "audio_cost_per_minute", "context_window",
                  "max_output_tokens", "tiers", "active", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs: dict[str, dict[str, Any]] = {"name": {"validators": []}}

    def validate_tiers(self, tiers: list[str]) -> list[str]:
        """Only tiers that exist."""
        from apps.accounts.models import Tier

        known = set(Tier.objects.values_list("slug", flat=True))
        unknown = sorted(set(tiers) - known)
        if unknown:
            raise serializers.ValidationError(f"Unknown tier(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}.")
        return list(dict.fromkeys(tiers))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The output limit must fit in the context window."""
        context = attrs.get("context_window", getattr(self.instance, "context_window", 8192))
        output = attrs.get("max_output_tokens", getattr(self.instance, "max_output_tokens", 4096))
        if output > context:
            raise serializers.ValidationError({"max_output_tokens": ["Cannot exceed context_window."]})
        return attrs


class ModelPublicSerializer(Serializer):
    """A model as API.md lists it for callers: `{id, name, provider, capabilities, input_cost, output_cost, context_window}`."""

    id = serializers.UUIDField()
    name = StrictCharField()
    provider = StrictCharField(source="provider_name")
    capabilities = serializers.ListField(child=StrictCharField())
    input_cost = serializers.DecimalField(max_digits=12, decimal_places=4, coerce_to_string=False)
    output_cost = serializers.DecimalField(max_digits=12, decimal_places=4, coerce_to_string=False)
    context_window = serializers.IntegerField()


class MetricsQuerySerializer(Serializer):
    """`?period=24h|7d|30d|90d` (default 7d)."""

    period = StrictChoiceField(choices=["1h", "24h", "7d", "30d", "90d"], default="7d")
