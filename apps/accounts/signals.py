"""Signal receivers: thin calls into services, so every way of creating a user gets the defaults."""
from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from .keycache import api_key_cache_clear, api_key_cache_forget_key, api_key_cache_forget_user
from .models import ApiKey, Role, Tier, User, UserRole
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


# ------------------------------------------------------------------------------ the API-key lookup cache
@receiver(post_save, sender=ApiKey, dispatch_uid="accounts_apikey_saved")
@receiver(post_delete, sender=ApiKey, dispatch_uid="accounts_apikey_deleted")
def api_key_changed(sender: type[ApiKey], instance: ApiKey, **kwargs: Any) -> None:
    """A revoked, edited or deleted key is refused at once in this process."""
    api_key_cache_forget_key(instance.digest)


@receiver(post_save, sender=User, dispatch_uid="accounts_user_saved_keycache")
@receiver(post_delete, sender=User, dispatch_uid="accounts_user_deleted_keycache")
def user_changed(sender: type[User], instance: User, created: bool = False, update_fields: Any = None, **kwargs: Any) -> None:
    """A deactivated, deleted or edited user (tier, staff flags) is seen at once by their keys here."""
    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return  # a new user has no cached key; a login changes nothing a key request reads
    api_key_cache_forget_user(instance.pk)


@receiver(post_save, sender=UserRole, dispatch_uid="accounts_userrole_saved")
@receiver(post_delete, sender=UserRole, dispatch_uid="accounts_userrole_deleted")
def user_role_changed(sender: type[UserRole], instance: UserRole, **kwargs: Any) -> None:
    """A role given or taken applies at once to the user's keys in this process."""
    api_key_cache_forget_user(instance.user_id)


@receiver(m2m_changed, sender=User.roles.through, dispatch_uid="accounts_user_roles_changed")
def user_roles_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    """`user.roles.add/remove/clear` (and the same from the role's side)."""
    if not action.startswith("post_"):
        return
    if not reverse:
        api_key_cache_forget_user(instance.pk)
    elif pk_set:
        for user_id in pk_set:
            api_key_cache_forget_user(user_id)
    else:
        api_key_cache_clear()


@receiver(post_save, sender=Role, dispatch_uid="accounts_role_saved_keycache")
@receiver(post_delete, sender=Role, dispatch_uid="accounts_role_deleted_keycache")
def role_changed(sender: type[Role], **kwargs: Any) -> None:
    """A role's tools changed or the role went: forget every cached lookup (rare, admin-only)."""
    api_key_cache_clear()
