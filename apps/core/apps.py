from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Contract core: errors, request ids, pagination, streams, SSE, rate limits, health, runtime."""

    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        from .db import pool_reconnect_tune

        pool_reconnect_tune()
