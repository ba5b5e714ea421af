"""A short in-process cache of API-key lookups: `nxk_` digest -> the key row, its user, the user's roles.

JWT access tokens read their user through it too (`user_lookup`), with the same TTL and invalidation.

Every request with a key used to read the key and its user (one query) and, when a view checks a
tool, the user's roles (a second one). A hit here costs neither. The bound on staleness:

- in this process, revoking or deleting a key, saving or deleting the user (deactivation, tier,
  staff flags, an admin edit) and any change of the user's roles (or of a role's tools) forget the
  entry at once, and again when the transaction commits, so a request running alongside cannot
  put back what it read before the commit;
- in other processes an entry lives at most `API_KEY_CACHE_SECONDS` (default 5; 0 disables);
- queryset `.update()` calls send no signals: after one, call `api_key_cache_clear()`, or the
  change shows up after the TTL.

Expiry and the active flags are checked on every hit (the cached values are rebuilt into fresh
model instances each time), and nothing is stored for a missing, revoked, expired or inactive key.
Entries are kept in LRU order, at most `API_KEY_CACHE_MAX_ENTRIES`.
"""
from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.base import ModelState

from .models import ApiKey, Role, User

DEFAULT_TTL_SECONDS = 5
DEFAULT_MAX_ENTRIES = 10_000
_ROLES_ATTR = "_nexus_roles"  # where selectors.user_role_list keeps a user's roles for the request

_clock = time.monotonic  # replaced by tests


@dataclass
class _Entry:
    expires: float
    db: str
    key_names: tuple[str, ...]
    key_values: tuple[Any, ...]
    user_names: tuple[str, ...]
    user_values: tuple[Any, ...]
    roles: tuple[Role, ...]


_lock = threading.Lock()
_entries: OrderedDict[str, _Entry] = OrderedDict()
_by_user: dict[Any, set[str]] = {}
# Bumped by every invalidation: a lookup that read the database before an invalidation does not
# store what it read.
_generation = 0


def _ttl() -> float:
    return float(getattr(settings, "API_KEY_CACHE_SECONDS", DEFAULT_TTL_SECONDS))


def _max_entries() -> int:
    return int(getattr(settings, "API_KEY_CACHE_MAX_ENTRIES", DEFAULT_MAX_ENTRIES))


def key_digest(raw: str) -> str:
    """The SHA-256 hex digest under which a key is stored."""
    return hashlib.sha256(raw.encode()).hexdigest()


def _snapshot(instance: Any) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    names = tuple(field.attname for field in instance._meta.concrete_fields)
    return names, tuple(getattr(instance, name) for name in names)


def _rebuild(model: type[Any], db: str, names: tuple[str, ...], values: tuple[Any, ...]) -> Any:
    # Fresh instances on every hit: a view may change its request's user or key without touching
    # the cached copy (lists, such as the scopes, are copied too). Built as unpickling builds a
    # model (its attribute values and a loaded state), not through `__init__`: the values came
    # from a loaded instance already, and `__init__` walks every field again for each of them.
    instance: Any = object.__new__(model)
    instance.__dict__.update(zip(names, (list(value) if isinstance(value, list) else value for value in values), strict=True))
    instance._state = ModelState()
    instance._state.db, instance._state.adding = db, False
    return instance


def _drop(digest: str) -> None:
    entry = _entries.pop(digest, None)
    if entry is None:
        return
    user_id = entry.user_values[entry.user_names.index("id")]
    digests = _by_user.get(user_id)
    if digests is not None:
        digests.discard(digest)
        if not digests:
            del _by_user[user_id]


def _fresh(digest: str) -> _Entry | None:
    """The entry under `digest` if it is younger than the TTL (an expired one is dropped)."""
    if _ttl() <= 0:
        return None
    with _lock:
        entry = _entries.get(digest)
        if entry is None:
            return None
        if entry.expires <= _clock():
            _drop(digest)
            return None
        _entries.move_to_end(digest)
    return entry


def _user_of(entry: _Entry) -> User:
    user = _rebuild(User, entry.db, entry.user_names, entry.user_values)
    setattr(user, _ROLES_ATTR, list(entry.roles))
    return user


def _get(digest: str) -> ApiKey | None:
    entry = _fresh(digest)
    if entry is None:
        return None
    key = _rebuild(ApiKey, entry.db, entry.key_names, entry.key_values)
    key.user = _user_of(entry)
    return key


def _put(digest: str, key: ApiKey | None, user: User, roles: list[Role], generation: int) -> None:
    """Store a lookup: a key and its user, or (key None) a user alone, under `digest`."""
    ttl = _ttl()
    if ttl <= 0:
        return
    key_names, key_values = _snapshot(key) if key is not None else ((), ())
    user_names, user_values = _snapshot(user)
    entry = _Entry(_clock() + ttl, user._state.db or "default", key_names, key_values, user_names, user_values, tuple(roles))
    with _lock:
        if generation != _generation:
            return
        _drop(digest)
        _entries[digest] = entry
        _by_user.setdefault(user.pk, set()).add(digest)
        limit = max(_max_entries(), 1)
        while len(_entries) > limit:
            _drop(next(iter(_entries)))


def api_key_lookup(raw: str) -> ApiKey | None:
    """The key (with its user, and the user's roles loaded) whose digest matches `raw`, active or not.

    Served from the cache when an entry is younger than the TTL; otherwise one query for the key and
    its user and one for the roles, stored only when the key and its user are active.
    """
    from .selectors import user_role_list

    digest = key_digest(raw)
    key = _get(digest)
    if key is not None:
        return key
    generation = _generation
    key = ApiKey.objects.select_related("user").filter(digest=digest).first()
    if key is None or not key.is_active or not key.user.is_active or _ttl() <= 0:
        return key  # a refused key is never cached
    roles = user_role_list(key.user)
    _put(digest, key, key.user, roles, generation)
    return key


def user_lookup(user_id: Any) -> User | None:
    """The user with this id (roles loaded), active or not, through the same cache, TTL and invalidation as keys.

    For JWT access tokens, which name their user: a hit costs no query. Nothing is stored for a
    missing or inactive user.
    """
    from .selectors import user_role_list

    digest = f"user:{user_id}"
    entry = _fresh(digest)
    if entry is not None:
        return _user_of(entry)
    generation = _generation
    user = User.objects.filter(pk=user_id).first()
    if user is None or not user.is_active or _ttl() <= 0:
        return user
    _put(digest, None, user, user_role_list(user), generation)
    return user


def api_key_cache_note_used(key: ApiKey) -> None:
    """Keep the cached `last_used_at` in step after the key's use was recorded."""
    with _lock:
        entry = _entries.get(key.digest)
        if entry is None:
            return
        index = entry.key_names.index("last_used_at")
        values = list(entry.key_values)
        values[index] = key.last_used_at
        entry.key_values = tuple(values)


def _bump() -> None:
    global _generation
    _generation += 1


def _now_and_on_commit(forget: Any) -> None:
    forget()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(forget, robust=True)


def api_key_cache_forget_key(digest: str) -> None:
    """Forget one key, now and when the current transaction commits."""
    def forget() -> None:
        with _lock:
            _bump()
            _drop(digest)

    _now_and_on_commit(forget)


def api_key_cache_forget_user(user_id: Any) -> None:
    """Forget every key of a user, now and when the current transaction commits."""
    def forget() -> None:
        with _lock:
            _bump()
            for digest in list(_by_user.get(user_id, ())):
                _drop(digest)

    _now_and_on_commit(forget)


def api_key_cache_clear() -> None:
    """Forget every entry in this process (a role's tools changed, or after a queryset update)."""
    def forget() -> None:
        with _lock:
            _bump()
            _entries.clear()
            _by_user.clear()

    _now_and_on_commit(forget)


def api_key_cache_size() -> int:
    """How many lookups this process holds."""
    with _lock:
        return len(_entries)
