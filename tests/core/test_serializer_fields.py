"""core.serializers: fields are built once per serializer class, and every instance still gets fields of its own."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.core.serializers import Serializer


class Item(Serializer):
    name = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField(), default=list)
    extra = serializers.DictField(required=False, default={})
    who = serializers.SerializerMethodField()

    def get_who(self, obj: Any) -> str:
        return f"{self.context['viewer']} sees {obj['name']}"


class Basket(Serializer):
    owner = serializers.CharField()
    items = Item(many=True)


def test_fields_are_built_once_per_class_and_bound_to_each_instance() -> None:
    first, second = Item(context={"viewer": "ann"}), Item(context={"viewer": "bob"})
    assert first.fields["name"] is not second.fields["name"]
    assert first.fields["name"].parent is first and second.fields["name"].parent is second
    assert first.fields["name"]._kwargs is second.fields["name"]._kwargs  # a shallow copy of one prototype
    assert set(Item._field_prototypes) == {"name", "tags", "extra", "who"}
    # The method field reads its own instance's context; the list field's child is its own.
    assert Item({"name": "tea"}, context={"viewer": "ann"}).data["who"] == "ann sees tea"
    assert Item({"name": "tea"}, context={"viewer": "bob"}).data["who"] == "bob sees tea"
    assert first.fields["tags"].child is not second.fields["tags"].child
    assert first.fields["tags"].child.parent is first.fields["tags"]


def test_a_mutable_default_and_nested_serializers_are_not_shared() -> None:
    one = Item(data={"name": "a"})
    assert one.is_valid(), one.errors
    one.validated_data["extra"]["changed"] = True
    other = Item(data={"name": "b"})
    assert other.is_valid(), other.errors
    assert other.validated_data["extra"] == {}  # the default dict is each instance's own
    data = Basket({"owner": "cy", "items": [{"name": "tea"}, {"name": "jam"}]}, context={"viewer": "cy"}).data
    assert [item["who"] for item in data["items"]] == ["cy sees tea", "cy sees jam"]  # the nested child reads this context
    assert Basket({"owner": "di", "items": [{"name": "oat"}]}, context={"viewer": "di"}).data["items"][0]["who"] == "di sees oat"
