"""The llm app's only contact with accounts: the caller's tier, admin role and API-key scopes.

Everything the gateway and the admin routes need to know about a caller goes through here, so
the accounts interfaces (`apps.accounts.policy`, `apps.accounts.permissions`) are used in one
place.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apps.accounts.models import User


def tier_of(user: User) -> str:
    """The slug of the caller's tier."""
    from apps.accounts.policy import tier_policy

    return tier_policy(user).tier


def is_admin(user: User) -> bool:
    """True when the caller's roles grant the `admin` tool."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    from apps.accounts.selectors import user_has_tool

    return bool(user_has_tool(user, "admin"))
