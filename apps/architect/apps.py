from django.apps import AppConfig


class ArchitectConfig(AppConfig):
    """Assistant Architect: prompt-chain tools, their executions on Celery, per-prompt results."""

    name = "apps.architect"
    label = "architect"
