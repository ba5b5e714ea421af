from django.apps import AppConfig


class LlmConfig(AppConfig):
    """Provider connections, model registry, adapters, metering of usage."""

    name = "apps.llm"
    label = "llm"
    verbose_name = "LLM gateway"

    def ready(self) -> None:
        from apps.core.health import register_check

        from .health import check_providers

        register_check("providers", check_providers)
