from django.apps import AppConfig


class GatewayConfig(AppConfig):
    """The OpenAI-compatible gateway: OpenAI's wire format on top of the llm client and billing's metering seam."""

    name = "apps.gateway"
    label = "gateway"
    verbose_name = "OpenAI-compatible gateway"
