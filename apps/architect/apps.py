from apps.core.registry import NavEntry, NexusAppConfig, Scope, Tool, ledger_route


class ArchitectConfig(NexusAppConfig):
    """Assistant Architect: prompt-chain tools, their executions on Celery, per-prompt results."""

    name = "apps.architect"
    label = "architect"
    api_urls = "apps.architect.api.urls"
    page_urls = "apps.architect.urls"  # tool builder, run form, live run page
    navigation = (NavEntry("Architect", "architect:tools", tool="assistant-architect", position=40),)
    tools = (Tool("assistant-architect", scope="architect", position=30),)
    scopes = (Scope("architect", position=30),)
    ledger_links = {"architect": ledger_route("architect:run", "execution_id")}  # charges link to the execution
    beat = {
        "architect-reap-stale-executions": {
            "task": "apps.architect.tasks.execution_reap_stale",
            "schedule": 30.0,
            "options": {"queue": "default"},
        },
    }
