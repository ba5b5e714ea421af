from apps.core.registry import NavEntry, NexusAppConfig, Scope, Tool


class AccountsConfig(NexusAppConfig):
    """Users, roles and tools, workspaces, API keys, JWT, tiers."""

    name = "apps.accounts"
    label = "accounts"
    api_urls = "apps.accounts.api.urls"
    page_urls = "apps.accounts.urls"  # sign-up, profile, API keys, workspaces
    navigation = (
        NavEntry("Workspaces", "accounts:workspaces", position=70, section="account"),
        NavEntry("API keys", "accounts:keys", position=80, section="account"),
        NavEntry("Profile", "accounts:profile", position=90, section="account"),
    )
    tools = (
        Tool("admin", scope="admin", position=80),
    )
    scopes = (
        Scope("admin", position=90),
    )

    def ready(self) -> None:
        from . import openapi, signals  # noqa: F401  (registers schema extensions, connects receivers)
