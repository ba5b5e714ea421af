"""The base ViewSet every CRUD resource uses: its queryset always comes from a caller-scoped selector.

A subclass names a selector `(*, user) -> QuerySet` and, for writes, services. Objects outside
the selector's queryset answer 404, so another user's ids never leak (API.md: "A resource the
caller cannot see answers 404").

    class FolderViewSet(ScopedModelViewSet):
        selector = staticmethod(folder_list_for_user)
        serializer_class = FolderSerializer

        def perform_create(self, serializer):
            serializer.instance = folder_create(user=self.request.user, **serializer.validated_data)
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.db.models import Model, QuerySet
from rest_framework import mixins, viewsets

from .selectors import get_or_404

Selector = Callable[..., QuerySet[Any]]


class ScopedViewSetMixin:
    """Takes the queryset from `selector(user=request.user)`; never from a global manager."""

    selector: ClassVar[Selector | None] = None
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    def get_queryset(self) -> QuerySet[Any]:
        if self.selector is None:  # pragma: no cover - a programming error, caught by tests of the app
            raise NotImplementedError(f"{type(self).__name__} must set `selector`.")
        # A mixin: `request`, `kwargs`, `filter_queryset` ... come from the GenericAPIView it is mixed into.
        return type(self).selector(user=self.request.user)  # type: ignore[attr-defined,misc]

    def get_object(self) -> Model:
        queryset = self.filter_queryset(self.get_queryset())  # type: ignore[attr-defined]  # see get_queryset
        lookup = self.kwargs[self.lookup_field]  # type: ignore[attr-defined]  # see get_queryset
        obj = get_or_404(queryset, **{self.lookup_field: lookup})  # type: ignore[attr-defined]  # see get_queryset
        self.check_object_permissions(self.request, obj)  # type: ignore[attr-defined]  # see get_queryset
        return obj


class ScopedModelViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    """List, create, retrieve, update, delete over a caller-scoped queryset."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]


class ScopedReadOnlyViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """List and retrieve over a caller-scoped queryset."""


class ScopedListCreateViewSet(ScopedViewSetMixin, mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """List and create over a caller-scoped queryset."""
