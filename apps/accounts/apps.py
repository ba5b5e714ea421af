from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users, roles and tools, workspaces, API keys, JWT, tiers."""

    name = "apps.accounts"
    label = "accounts"
