"""Provider API keys at rest: Fernet with the keys of `LLM_ENCRYPTION_KEYS` (newest first).

With no key configured, one is derived from `SECRET_KEY`, so an install works out of the box; set
`LLM_ENCRYPTION_KEYS` in production so that rotating `SECRET_KEY` does not lose provider keys.
Rotation: put the new key first, keep the old ones after it, run `manage.py llm_rotate_keys`
(re-encrypts every stored key with the newest), then drop the old keys.
"""
from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from .errors import SecretUnreadable


def _derived_key(secret: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(("nexus-llm-provider-keys:" + secret).encode()).digest())


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    material = [key.encode() for key in keys if key] or [_derived_key(secret_key)]
    return MultiFernet([Fernet(key) for key in material])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.LLM_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt_secret(plaintext: str) -> str:
    """The Fernet token of `plaintext` under the newest key."""
    return _current().encrypt(plaintext.encode()).decode()


def decrypt_secret(token: str) -> str:
    """The plaintext of a token made by any configured key."""
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable() from None


def rotate_secret(token: str) -> str:
    """The same secret re-encrypted under the newest key."""
    try:
        return _current().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable() from None


def generate_key() -> str:
    """A fresh Fernet key for `LLM_ENCRYPTION_KEYS`."""
    return Fernet.generate_key().decode()
