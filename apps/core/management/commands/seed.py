"""`manage.py seed`: idempotent reference data (roles, plans, model catalogue) from every app."""
from __future__ import annotations

from importlib import import_module
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    """Call `seed()` in every installed app's `seeds` module, in INSTALLED_APPS order."""

    help = "Seed reference data; safe to run any number of times."

    def handle(self, *args: Any, **options: Any) -> None:
        for config in apps.get_app_configs():
            if not config.name.startswith("apps."):
                continue
            try:
                module = import_module(f"{config.name}.seeds")
            except ModuleNotFoundError as exc:
                if exc.name != f"{config.name}.seeds":
                    raise
                continue
            summary = module.seed()
            self.stdout.write(f"seeded {config.label}: {summary}")
