"""Reference data of the accounts app: the tiers and the built-in roles (`manage.py seed` calls `seed`)."""
from __future__ import annotations

from typing import Any

# The seeded per-user limits (admin-editable per tier afterwards). Paid tiers get more headroom.
DEFAULT_TIERS: dict[str, dict[str, Any]] = {
    "free": {
        "name": "Free", "position": 0, "monthly_credits": 200, "price_cents": 0,
        "api_rpm": 600, "chat_rpm": 100, "chat_tokens_per_hour": 100_000, "chat_concurrent": 3,
        "compare_rpm": 20, "compare_concurrent": 2, "architect_rpm": 10, "architect_prompts_per_hour": 50,
        "architect_concurrent": 1, "upload_rpm": 10, "upload_max_bytes": 10 * 1024 * 1024,
    },
    "pro": {
        "name": "Pro", "position": 1, "monthly_credits": 3_000, "price_cents": 2_000,
        "api_rpm": 1_200, "chat_rpm": 200, "chat_tokens_per_hour": 500_000, "chat_concurrent": 5,
        "compare_rpm": 40, "compare_concurrent": 3, "architect_rpm": 20, "architect_prompts_per_hour": 200,
        "architect_concurrent": 2, "upload_rpm": 30, "upload_max_bytes": 10 * 1024 * 1024,
    },
    "enterprise": {
        "name": "Enterprise", "position": 2, "monthly_credits": 20_000, "price_cents": 10_000,
        "api_rpm": 3_000, "chat_rpm": 500, "chat_tokens_per_hour": 2_000_000, "chat_concurrent": 10,
        "compare_rpm": 100, "compare_concurrent": 5, "architect_rpm": 50, "architect_prompts_per_hour": 1_000,
        "architect_concurrent": 5, "upload_rpm": 60, "upload_max_bytes": 10 * 1024 * 1024,
    },
}

DEFAULT_ROLES: dict[str, dict[str, Any]] = {
    "user": {
        "description": "Every tool but administration.",
        "tools": ["chat", "compare", "assistant-architect", "knowledge", "forge", "agents", "workflows", "voice"],
    },
    "admin": {
        "description": "Every tool, including administration.",
        "tools": ["chat", "compare", "assistant-architect", "knowledge", "forge", "agents", "workflows", "voice", "admin"],
    },
}


def seed_rows(tier_model: Any, role_model: Any) -> dict[str, int]:
    """Create the missing tiers and roles; never overwrite what an admin edited. Works in migrations too."""
    tiers = 0
    for slug, values in DEFAULT_TIERS.items():
        _tier, created = tier_model.objects.get_or_create(slug=slug, defaults=values)
        tiers += int(created)
    roles = 0
    for name, values in DEFAULT_ROLES.items():
        _role, created = role_model.objects.get_or_create(name=name, defaults=values)
        roles += int(created)
    return {"tiers_created": tiers, "roles_created": roles}


def seed() -> dict[str, int]:
    """Idempotent: the three tiers and the `user` and `admin` roles; superusers get `admin`."""
    from .models import Role, Tier, User, UserRole

    summary = seed_rows(Tier, Role)
    admin = Role.objects.get(name="admin")
    linked = 0
    for user in User.objects.filter(is_superuser=True).exclude(role_links__role=admin):
        UserRole.objects.get_or_create(user=user, role=admin)
        linked += 1
    summary["superusers_made_admin"] = linked
    return summary
