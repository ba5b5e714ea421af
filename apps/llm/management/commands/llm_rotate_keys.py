"""`manage.py llm_rotate_keys`: re-encrypt stored provider keys under the newest LLM_ENCRYPTION_KEYS key."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.llm.crypto import generate_key
from apps.llm.services import provider_keys_rotate


class Command(BaseCommand):
    """Rotate provider-key encryption (put the new key first in LLM_ENCRYPTION_KEYS, keep the old ones after it)."""

    help = "Re-encrypt every stored provider API key with the first key of LLM_ENCRYPTION_KEYS."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--generate", action="store_true", help="Only print a fresh key to put in LLM_ENCRYPTION_KEYS.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["generate"]:
            self.stdout.write(generate_key())
            return
        count = provider_keys_rotate()
        self.stdout.write(f"re-encrypted {count} provider key(s); the old keys can now be removed from LLM_ENCRYPTION_KEYS")
