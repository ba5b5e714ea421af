from django.apps import AppConfig


class LlmConfig(AppConfig):
    """Provider connections, model registry, adapters, metering, the OpenAI-compatible gateway."""

    name = "apps.llm"
    label = "llm"
