from apps.core.registry import NexusAppConfig


class LlmConfig(NexusAppConfig):
    """Provider connections, model registry, adapters, metering of usage."""

    name = "apps.llm"
    label = "llm"
    verbose_name = "LLM gateway"
    api_urls = "apps.llm.api.urls"
    queues = ("llm",)

    def ready(self) -> None:
        from apps.core.health import register_check

        from .health import check_providers

        register_check("providers", check_providers)
