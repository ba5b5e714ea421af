from apps.core.registry import NavEntry, NexusAppConfig, Scope, Tool, ledger_route


class AgentsConfig(NexusAppConfig):
    """Agents: registry and discovery, heartbeats, tasks forwarded over A2A, trust, escrowed billing, the A2A gateway."""

    name = "apps.agents"
    label = "agents"
    api_urls = "apps.agents.api.urls"
    page_urls = "apps.agents.urls"  # the A2A agent cards under /.well-known/, the marketplace and task console
    navigation = (NavEntry("Agents", "agents:marketplace", tool="agents", position=45),)
    tools = (Tool("agents", scope="agents", position=60),)
    scopes = (Scope("agents", position=50),)
    ledger_links = {  # holds, charges, earnings
        "agent-task": ledger_route("agents:task", "task_id"),
        "agent_task": ledger_route("agents:task", "task_id"),
    }
    beat = {
        "agents-sweep-offline": {"task": "apps.agents.tasks.agents_sweep_offline", "schedule": 60.0, "options": {"queue": "agents"}},
        "agents-reap-tasks": {"task": "apps.agents.tasks.task_reap_stale", "schedule": 15.0, "options": {"queue": "agents"}},
    }

    def ready(self) -> None:
        from . import openapi  # noqa: F401  (registers the agent-key security scheme)
