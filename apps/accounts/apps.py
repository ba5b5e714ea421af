from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users, roles and tools, workspaces, API keys, JWT, tiers."""

    name = "apps.accounts"
    label = "accounts"

    def ready(self) -> None:
        from . import openapi, signals  # noqa: F401  (registers schema extensions, connects receivers)
