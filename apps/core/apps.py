from apps.core.registry import NexusAppConfig


class CoreConfig(NexusAppConfig):
    """Contract core: errors, request ids, pagination, streams, SSE, rate limits, health, runtime."""

    name = "apps.core"
    label = "core"
    api_urls = "apps.core.api.urls"
    # "default" takes short jobs; "builds" and "agents" are reserved for the forge and agents apps to come.
    queues = ("default", "builds", "agents")

    def ready(self) -> None:
        from .db import pool_check_tune, pool_reconnect_tune

        pool_reconnect_tune()
        pool_check_tune()
