from apps.core.registry import NexusAppConfig


class GatewayConfig(NexusAppConfig):
    """The OpenAI-compatible gateway: OpenAI's wire format on top of the llm client and billing's metering seam."""

    name = "apps.gateway"
    label = "gateway"
    verbose_name = "OpenAI-compatible gateway"
    api_urls = "apps.gateway.api.urls"
