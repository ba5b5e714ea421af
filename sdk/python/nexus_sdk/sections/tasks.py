"""A2A tasks sent to agents (API.md, Agents)."""
from .._route import Route, Section, resume_same
from ..models import Resource


class Task(Resource):
    """A task assigned to an agent."""

    id: str
    status: str | None = None


class Tasks(Section):
    """Create, follow, answer and cancel tasks."""

    create = Route("POST", "/tasks", model=Task, doc="assigned_agent_id, title, description, input, timeout_seconds -> 202 task")
    list = Route("GET", "/tasks", kind="page", model=Task)
    get = Route("GET", "/tasks/{id}", model=Task)
    cancel = Route("POST", "/tasks/{id}/cancel", model=Task)
    reply = Route("POST", "/tasks/{id}/reply", model=Task)
    stream = Route("GET", "/tasks/{id}/stream", kind="sse", resume=resume_same, doc="SSE: status, message, artifact, complete")
