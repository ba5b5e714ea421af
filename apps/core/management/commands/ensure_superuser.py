"""`manage.py ensure_superuser`: create the superuser named by the environment, once."""
from __future__ import annotations

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    """Create DJANGO_SUPERUSER_EMAIL with DJANGO_SUPERUSER_PASSWORD if both are set and it is new."""

    help = "Create the superuser from DJANGO_SUPERUSER_EMAIL / DJANGO_SUPERUSER_PASSWORD, or say how to make one."

    def handle(self, *args: Any, **options: Any) -> None:
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "").strip().lower()
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        user_model = get_user_model()
        if email and password:
            if user_model.objects.filter(email=email).exists():
                self.stdout.write(f"superuser {email} already exists")
                return
            user_model.objects.create_superuser(email=email, password=password)
            self.stdout.write(self.style.SUCCESS(f"created superuser {email}"))
            return
        if not user_model.objects.filter(is_superuser=True).exists():
            self.stdout.write(
                "No superuser yet. Create one with:\n"
                "    .venv/bin/python manage.py createsuperuser\n"
                "(with the embedded services running, i.e. while `make run` is up), or set "
                "DJANGO_SUPERUSER_EMAIL and DJANGO_SUPERUSER_PASSWORD before `make run`."
            )
