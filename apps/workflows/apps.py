from apps.core.registry import NavEntry, NexusAppConfig, Scope, Tool


class WorkflowsConfig(NexusAppConfig):
    """Workflows: versioned DAGs of steps run durably on the `workflows` queue, webhook and schedule triggers."""

    name = "apps.workflows"
    label = "workflows"
    api_urls = "apps.workflows.api.urls"
    page_urls = "apps.workflows.urls"
    navigation = (NavEntry("Workflows", "workflows:home", tool="workflows", position=55),)
    tools = (Tool("workflows", scope="workflows", position=70),)
    scopes = (Scope("workflows", position=60),)
    ledger_links = {"workflows": "apps.workflows.ledger.workflow_urls"}  # a step's charge links to its workflow
    queues = ("workflows",)
    beat = {
        "workflows-reap-stale-steps": {
            "task": "apps.workflows.tasks.run_reap_stale",
            "schedule": 30.0,
            "options": {"queue": "default"},
        },
    }
