"""Tier policy: the one place every app asks for a user's limits (rates, concurrency, credits, uploads).

`tier_policy(user)` reads the user's `Tier` row (admin-editable) and caches it in the process for
`TIER_POLICY_CACHE_SECONDS`, so asking costs nothing on the hot path. If a tier row is missing
(a wiped test database), the seeded defaults answer rather than an error.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser

from .seeds import DEFAULT_TIERS

DEFAULT_TIER = "free"


@dataclass(frozen=True)
class TierPolicy:
    """The limits and allowances of one tier."""

    tier: str
    name: str
    monthly_credits: int
    price_cents: int
    api_rpm: int
    chat_rpm: int
    chat_tokens_per_hour: int
    chat_concurrent: int
    compare_rpm: int
    compare_concurrent: int
    architect_rpm: int
    architect_prompts_per_hour: int
    architect_concurrent: int
    upload_rpm: int
    upload_max_bytes: int

    def rpm(self, kind: str) -> int:
        """Requests per minute for a kind of call: api, chat, compare, architect or upload."""
        return int(getattr(self, f"{kind}_rpm"))

    def concurrent(self, kind: str) -> int:
        """Simultaneous runs allowed for a kind of call: chat, compare or architect."""
        return int(getattr(self, f"{kind}_concurrent"))


_FIELDS = tuple(f.name for f in fields(TierPolicy) if f.name != "tier")
_cache: dict[str, tuple[float, TierPolicy]] = {}


def _from_values(slug: str, values: dict[str, Any]) -> TierPolicy:
    return TierPolicy(tier=slug, **{name: values[name] for name in _FIELDS})


def policy_for_tier(slug: str) -> TierPolicy:
    """The policy of a tier by slug (cached briefly in this process)."""
    now = time.monotonic()
    hit = _cache.get(slug)
    if hit is not None and hit[0] > now:
        return hit[1]
    from .models import Tier

    row = Tier.objects.filter(slug=slug).values(*_FIELDS).first()
    if row is None:
        row = DEFAULT_TIERS.get(slug) or DEFAULT_TIERS[DEFAULT_TIER]
    policy = _from_values(slug, row)
    _cache[slug] = (now + settings.TIER_POLICY_CACHE_SECONDS, policy)
    return policy


def tier_policy(user: AbstractBaseUser | AnonymousUser | None) -> TierPolicy:
    """The policy of the user's tier; anonymous callers get the default tier's."""
    slug = getattr(user, "tier_id", None) if getattr(user, "is_authenticated", False) else None
    return policy_for_tier(slug or DEFAULT_TIER)


def policy_cache_clear() -> None:
    """Forget cached policies in this process (after an admin edits a tier)."""
    _cache.clear()
