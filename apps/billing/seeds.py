"""Reference data of the billing app: the credit packages (`manage.py seed` calls `seed`)."""
from __future__ import annotations

from typing import Any

DEFAULT_PACKAGES: dict[str, dict[str, Any]] = {
    "starter": {"name": "Starter", "credits": 1_000, "price_cents": 1_000, "currency": "usd", "position": 0},
    "pro": {"name": "Pro", "credits": 5_000, "price_cents": 4_000, "currency": "usd", "position": 1},
    "enterprise": {"name": "Enterprise", "credits": 25_000, "price_cents": 15_000, "currency": "usd", "position": 2},
}


def seed_rows(package_model: Any) -> int:
    """Create the missing packages; never overwrite an admin's edits. Works in migrations too."""
    created = 0
    for slug, values in DEFAULT_PACKAGES.items():
        _row, was_created = package_model.objects.get_or_create(slug=slug, defaults=values)
        created += int(was_created)
    return created


def seed() -> dict[str, int]:
    """Idempotent: the three credit packages."""
    from .models import CreditPackage

    return {"packages_created": seed_rows(CreditPackage)}
