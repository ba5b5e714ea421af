"""Serializer fields shared by every app: strings are strings.

DRF's CharField turns a number into its text (`{"name": 0}` becomes `"0"`), so a client with a
type bug gets a silent success and the OpenAPI schema (`type: string`) lies. Every input
serializer uses `StrictCharField` (also what `ModelSerializer` maps text columns to) and a wrong
type answers 400 `VALIDATION_ERROR` naming the field.
"""
from __future__ import annotations

from typing import Any

from django.db import models
from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers, booleans, lists and objects instead of converting them."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictChoiceField(serializers.ChoiceField):
    """A ChoiceField that refuses numbers and booleans standing in for a string choice."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool | int | float) and not any(isinstance(key, int | float) for key in self.choices):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class ModelSerializer(serializers.ModelSerializer):
    """DRF's ModelSerializer with text columns mapped to `StrictCharField`."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.SlugField: serializers.SlugField,
    }
    serializer_choice_field = StrictChoiceField
