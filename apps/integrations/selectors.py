"""Integration reads, always scoped to the caller."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from apps.core.selectors import get_or_404

from .models import Connection

if TYPE_CHECKING:
    from apps.accounts.models import User


def connection_list(*, user: User) -> QuerySet[Connection]:
    """The caller's connections, newest first."""
    return Connection.objects.filter(owner=user)


def connection_get(*, user: User, connection_id: Any) -> Connection:
    """One of the caller's connections, else 404 (another user's id included)."""
    return get_or_404(connection_list(user=user), "Connection not found.", pk=connection_id)


def connection_for_kind(*, user: User, kind: str) -> Connection | None:
    """The caller's connection of `kind`, if saved (what the integration tools need to be offered)."""
    return connection_list(user=user).filter(kind=kind).first()
