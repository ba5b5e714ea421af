"""Agents, discovery, trust and the A2A gateway (API.md, Agents)."""
from .._route import Route, Section
from ..models import Resource


class Agent(Resource):
    """A registered agent."""

    id: str
    name: str
    status: str | None = None


class Agents(Section):
    """The agent registry: register, discover, heartbeats, agent keys, trust."""

    list = Route("GET", "/agents", kind="page", model=Agent)
    register = Route("POST", "/agents", model=Agent, doc="name, description, endpoint, skills, tags, metadata, price_per_task")
    get = Route("GET", "/agents/{id}", model=Agent)
    update = Route("PATCH", "/agents/{id}", model=Agent)
    delete = Route("DELETE", "/agents/{id}")
    discover = Route("GET", "/discover", kind="page", model=Agent, doc="skill_tags=[...], category, min_trust_score, status")
    heartbeat = Route("POST", "/agents/{id}/heartbeat")
    keys = Route("GET", "/agents/{id}/api-keys")
    create_key = Route("POST", "/agents/{id}/api-keys")
    revoke_key = Route("DELETE", "/agents/{id}/api-keys/{key_id}")
    trust = Route("GET", "/trust/{agent_id}")
    trust_history = Route("GET", "/trust/{agent_id}/history", kind="page")
    rate = Route("POST", "/trust/{agent_id}/rate", doc="task_id, rating (1..5), comment")
    a2a = Route("POST", "/a2a", doc="a JSON-RPC 2.0 call: jsonrpc='2.0', id, method ('message/send', 'tasks/get', ...), params")
