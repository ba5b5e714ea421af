from apps.core.registry import NexusAppConfig


class IntegrationsConfig(NexusAppConfig):
    """Per-user connections to outside services (secrets encrypted) and the services that send through them."""

    name = "apps.integrations"
    label = "integrations"
    api_urls = "apps.integrations.api.urls"
