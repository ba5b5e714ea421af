"""Reads of the knowledge app, always scoped to what the caller may see."""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from apps.accounts.selectors import can_write, visible_to
from apps.core.errors import NotFound
from apps.core.selectors import get_or_404

from .models import Document, Repository

if TYPE_CHECKING:
    from apps.accounts.models import User


def _visible_repositories(*, user: User) -> QuerySet[Repository]:
    """Repositories the caller owns or that are shared with a workspace the caller belongs to."""
    return visible_to(user=user, queryset=Repository.objects.all(), owner_field="owner", workspace_field="workspace")


def repository_list_for_user(*, user: User) -> QuerySet[Repository]:
    """The caller's readable repositories with their document and chunk counts."""
    return _visible_repositories(user=user).annotate(
        document_count=Count("documents", distinct=True),
        chunk_count=Coalesce(Sum("documents__chunk_count"), Value(0)),
    )


def _as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def repository_get_for_user(*, user: User, repository_id: Any) -> Repository:
    """One readable repository, or NotFound (also for another user's id)."""
    return get_or_404(_visible_repositories(user=user), "Repository not found.", pk=repository_id)


def repository_can_write(*, user: User, repository: Repository) -> bool:
    """Whether the caller may change the repository and its documents (owner, or workspace owner/admin)."""
    return can_write(user=user, obj=repository, owner_field="owner", workspace_field="workspace")


def repository_ids_for_user(*, user: User, repository_ids: Iterable[Any] | None = None) -> list[uuid.UUID]:
    """The ids to search: the given ones (each must be readable, else NotFound) or all readable ones."""
    visible = _visible_repositories(user=user)
    if repository_ids is None:
        return list(visible.values_list("id", flat=True))
    parsed = {_as_uuid(value) for value in repository_ids}
    if None in parsed:
        raise NotFound("Repository not found.")
    wanted = {pk for pk in parsed if pk is not None}
    found = set(visible.filter(pk__in=wanted).values_list("id", flat=True))
    if found != wanted:
        raise NotFound("Repository not found.", details={"repository_ids": [str(pk) for pk in wanted - found]})
    return sorted(found)


def document_list_for_user(*, user: User) -> QuerySet[Document]:
    """Documents in the caller's readable repositories."""
    return Document.objects.filter(repository__in=_visible_repositories(user=user)).select_related("repository")


def document_list_for_repository(*, user: User, repository_id: Any) -> QuerySet[Document]:
    """Documents of one readable repository, newest first."""
    repository = repository_get_for_user(user=user, repository_id=repository_id)
    return Document.objects.filter(repository=repository).order_by("-created_at")


def document_get_for_user(*, user: User, document_id: Any) -> Document:
    """One readable document, or NotFound."""
    return get_or_404(document_list_for_user(user=user), "Document not found.", pk=document_id)


def document_ids_for_user(*, user: User, document_ids: Iterable[Any]) -> list[uuid.UUID]:
    """The given document ids, each of which must be readable (else NotFound)."""
    parsed = {_as_uuid(value) for value in document_ids}
    if None in parsed:
        raise NotFound("Document not found.")
    wanted = {pk for pk in parsed if pk is not None}
    found = set(document_list_for_user(user=user).filter(pk__in=wanted).values_list("id", flat=True))
    if found != wanted:
        raise NotFound("Document not found.", details={"document_ids": [str(pk) for pk in wanted - found]})
    return sorted(found)


def documents_in_flight(*, user: User, repository_id: Any) -> QuerySet[Document]:
    """Documents of a repository still pending or processing (for the live progress view)."""
    return document_list_for_repository(user=user, repository_id=repository_id).filter(
        Q(status="pending") | Q(status="processing")
    )
