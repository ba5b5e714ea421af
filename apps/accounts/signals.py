"""Signal receivers: thin calls into services, so every way of creating a user gets the defaults."""
from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Tier, User
from .policy import policy_cache_clear
from .services import user_defaults_apply


@receiver(post_save, sender=User, dispatch_uid="accounts_user_defaults")
def user_created(sender: type[User], instance: User, created: bool, raw: bool = False, **kwargs: Any) -> None:
    """A new user (sign-up, createsuperuser, admin, factories) gets the `user` role and its tier row."""
    if created and not raw:
        user_defaults_apply(user=instance)


@receiver(post_save, sender=Tier, dispatch_uid="accounts_tier_saved")
@receiver(post_delete, sender=Tier, dispatch_uid="accounts_tier_deleted")
def tier_changed(sender: type[Tier], **kwargs: Any) -> None:
    """An edited tier applies at once in this process (others within the policy cache time)."""
    policy_cache_clear()
