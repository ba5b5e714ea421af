from apps.core.registry import NavEntry, NexusAppConfig, Scope, Tool, ledger_route


class ForgeConfig(NexusAppConfig):
    """Forge: one-shot app builds on the `builds` queue, live progress over WebSocket, deployed apps under /apps/."""

    name = "apps.forge"
    label = "forge"
    api_urls = "apps.forge.api.urls"
    page_urls = "apps.forge.urls"  # dashboard pages and the deployed apps (/apps/<slug>/)
    navigation = (NavEntry("Forge", "forge:home", tool="forge", position=45),)
    tools = (Tool("forge", scope="forge", position=50),)
    scopes = (Scope("forge", position=40),)
    ledger_links = {"forge": ledger_route("forge:build", "build_id")}  # charges link to the build
    queues = ("builds",)
    beat = {
        "forge-reap-stale-builds": {
            "task": "apps.forge.tasks.build_reap_stale",
            "schedule": 30.0,
            "options": {"queue": "default"},
        },
    }
