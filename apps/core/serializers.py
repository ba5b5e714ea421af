"""Serializer bases and fields shared by every app: strings are strings, fields built once per class.

DRF's CharField turns a number into its text (`{"name": 0}` becomes `"0"`), so a client with a
type bug gets a silent success and the OpenAPI schema (`type: string`) lies. Every input
serializer uses `StrictCharField` (also what `ModelSerializer` maps text columns to) and a wrong
type answers 400 `VALIDATION_ERROR` naming the field.

`Serializer` and `ModelSerializer` build their fields once per class (`CachedFieldsMixin`).
"""
from __future__ import annotations

import copy
from typing import Any, ClassVar

from django.db import models
from rest_framework import serializers
from rest_framework.fields import Field


def _needs_deep_copy(field: Field) -> bool:
    """Whether a field keeps other fields (a nested serializer, a `many=True` relation, a ListField's child) or a mutable default."""
    if isinstance(field, serializers.BaseSerializer) or isinstance(getattr(field, "default", None), list | dict | set):
        return True
    for value in vars(field).values():
        if isinstance(value, Field) or (isinstance(value, list | tuple) and any(isinstance(item, Field) for item in value)):
            return True
    return False


class CachedFieldsMixin:
    """A serializer whose fields are built once per class; each instance gets its own copies.

    DRF deep-copies the declared fields for every serializer instance, which runs each field's
    `__init__` again, and a ModelSerializer also rebuilds them from the model: 12 % of the CPU of a
    keyed `GET /api/v1/users/me`. Here `get_fields()` runs once per class; each instance then gets a
    shallow copy of each field, which `bind()` makes its own (name, parent, source). The parts a copy
    shares (validators, choices, a related field's queryset, which DRF clones with `.all()` on use)
    are not changed after `__init__`. A field that keeps other fields (nested serializers, `many=True`
    relations, list and dict children, bound to their parent at `__init__`), or a mutable default, is
    deep-copied, as DRF does.
    """

    _field_prototypes: ClassVar[dict[str, tuple[Field, bool]]]

    def get_fields(self) -> dict[str, Field]:
        cls = type(self)
        prototypes = cls.__dict__.get("_field_prototypes")
        if prototypes is None:  # two threads may both build them once: the same fields, either is kept
            built = super().get_fields()  # type: ignore[misc]  # DRF's Serializer/ModelSerializer.get_fields
            prototypes = {name: (field, _needs_deep_copy(field)) for name, field in built.items()}
            cls._field_prototypes = prototypes
        return {name: copy.deepcopy(field) if deep else _shallow_copy(field) for name, (field, deep) in prototypes.items()}


def _shallow_copy(field: Field) -> Field:
    """What `copy.copy` makes of a field (a new instance sharing the attribute values), without its `__reduce_ex__` detour."""
    clone = object.__new__(type(field))
    clone.__dict__.update(field.__dict__)
    return clone


class Serializer(CachedFieldsMixin, serializers.Serializer):
    """DRF's Serializer with its fields built once per class."""


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


class ModelSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    """DRF's ModelSerializer with text columns mapped to `StrictCharField`, its fields built once per class."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.SlugField: serializers.SlugField,
    }
    serializer_choice_field = StrictChoiceField
