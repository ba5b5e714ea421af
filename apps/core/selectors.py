"""Reads every app shares: one object out of a caller-scoped queryset, or 404."""
from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet

from .errors import NotFound

M = TypeVar("M", bound=Model)


def get_or_404(queryset: QuerySet[M], message: str = "Not found.", **lookup: Any) -> M:
    """The one object of `queryset` (already scoped to the caller by its selector) matching `lookup`, else 404.

    A malformed id (not a UUID, wrong type) is a 404 too: to the caller it names nothing they can see.
    """
    try:
        return queryset.get(**lookup)
    except (ObjectDoesNotExist, DjangoValidationError, ValueError, TypeError):
        raise NotFound(message) from None
