from apps.core.registry import NexusAppConfig


class ToolsConfig(NexusAppConfig):
    """Platform tools: one registry of tools a model (chat `tools`) or a client (`/api/v1/tools`) can call."""

    name = "apps.tools"
    label = "platform_tools"  # `tools` would read as the roles' tools
    api_urls = "apps.tools.api.urls"
    platform_tools = (
        "apps.tools.registry.SearchKnowledge",
        "apps.tools.registry.RunArchitectTool",
        "apps.tools.registry.RunWorkflow",
        "apps.tools.registry.CallAgent",
        "apps.tools.registry.FetchUrl",
        # Integration tools: listed once the caller saved a connection of their kind (apps.integrations).
        "apps.tools.registry.SendEmail",
        "apps.tools.registry.SlackMessage",
    )
