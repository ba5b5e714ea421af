"""OpenAPI security scheme of agent keys (a drf-spectacular extension)."""
from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class AgentKeyScheme(OpenApiAuthenticationExtension):
    """`nxa_` agent keys in the `X-Agent-Key` header (heartbeats and task replies by the agent itself)."""

    target_class = "apps.agents.api.authentication.AgentKeyAuthentication"
    name = "agentKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "header", "name": "X-Agent-Key",
                "description": "An nxa_ key of one agent: it acts as the agent's owner, limited to that agent."}
