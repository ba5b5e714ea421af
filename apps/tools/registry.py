"""The platform tools a model (chat `tools`) or a client (`/api/v1/tools`) can call: the one registry.

Each tool is a small class: a `name`, a `description`, the role tool and API-key scope of the feature it
uses (`role_tool`, `scope`), a JSON Schema of its arguments (`parameters`, checked with `jsonschema`),
and `run(*, context, arguments) -> dict`. `PlatformTool.invoke` does the rest the same way for every tool:
the caller's roles (403), the key's scopes (403), the arguments (400 with field details), then `run`,
which calls the feature's own selectors and services as the caller, so what the caller cannot see
answers 404 and each call is charged as its feature charges it.

Adding a tool from another app: subclass `PlatformTool` anywhere and name the class on that app's
AppConfig, `platform_tools = ("apps.<app>.tools.SendEmail",)`; it appears in `GET /tools`, in
`POST /tools/{name}` and in chat's `tools` with nothing else to change. Lookups go through
`apps.core.registry.platform_tools()`, by name, so chat (a lower layer) never imports this module.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import jsonschema
from django.conf import settings

from apps.accounts.errors import InsufficientScope, MissingTool
from apps.accounts.models import ApiKey
from apps.accounts.selectors import user_has_tool
from apps.core.errors import NotFound, ValidationError
from apps.core.registry import platform_tools

if TYPE_CHECKING:
    from apps.accounts.models import User


@dataclass
class ToolContext:
    """Who calls a tool: the user (roles, sharing), their API key if any (scopes), and a stop check."""

    user: User
    api_key: ApiKey | None = None
    # True once the caller stopped (a chat reply's stop): tools that wait give up early.
    cancelled: Callable[[], bool] = field(default=lambda: False)


class PlatformTool:
    """A platform tool: subclasses set the class attributes and implement `run`."""

    name: ClassVar[str]
    description: ClassVar[str]
    role_tool: ClassVar[str]  # the role tool of its feature (accounts roles)
    scope: ClassVar[str]  # the API-key scope that covers it
    parameters: ClassVar[dict[str, Any]]

    def allowed(self, context: ToolContext) -> bool:
        """Whether the caller's roles and key scopes cover this tool."""
        if context.api_key is not None and not context.api_key.allows(self.scope):
            return False
        return user_has_tool(context.user, self.role_tool)

    def check_access(self, context: ToolContext) -> None:
        """403 when the key's scopes or the caller's roles do not cover this tool."""
        if context.api_key is not None and not context.api_key.allows(self.scope):
            raise InsufficientScope(f"This API key's scopes do not cover the tool `{self.name}` (it needs `{self.scope}`).",
                                    details={"required_scope": [self.scope]})
        if not user_has_tool(context.user, self.role_tool):
            raise MissingTool(f"Your roles do not grant the `{self.role_tool}` tool.", details={"required_tool": [self.role_tool]})

    def validate(self, arguments: Any) -> dict[str, Any]:
        """The arguments, checked against `parameters` (400 with one entry per bad field)."""
        if not isinstance(arguments, dict):
            raise ValidationError("The arguments must be a JSON object.", details={"arguments": ["A JSON object."]})
        errors: dict[str, list[str]] = {}
        for error in jsonschema.Draft202012Validator(self.parameters).iter_errors(arguments):
            path = [str(part) for part in error.absolute_path]
            if error.validator == "required" and isinstance(error.instance, dict):
                missing = [name for name in error.validator_value if name not in error.instance]
                for name in missing:
                    errors.setdefault(".".join([*path, name]), []).append("This field is required.")
                continue
            if error.validator == "additionalProperties" and isinstance(error.instance, dict):
                allowed = set(error.schema.get("properties", {}))
                for name in error.instance:
                    if name not in allowed:
                        errors.setdefault(".".join([*path, name]), []).append("Unknown argument.")
                continue
            errors.setdefault(".".join(path) or "arguments", []).append(error.message)
        if errors:
            raise ValidationError(f"Invalid arguments for `{self.name}`.", details=errors)
        return arguments

    def invoke(self, *, user: User, api_key: ApiKey | None = None, arguments: Any,
               cancelled: Callable[[], bool] | None = None) -> dict[str, Any]:
        """Check access and arguments, then run as the caller (raises ApplicationError subclasses).

        The entry point of every caller (the route, chat's tool loop): plain keyword arguments, so a
        caller in a lower layer needs nothing from this module.
        """
        context = ToolContext(user=user, api_key=api_key, cancelled=cancelled or (lambda: False))
        self.check_access(context)
        return self.run(context=context, arguments=self.validate(arguments))

    def run(self, *, context: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
        """Do the work as the caller; the arguments are already valid."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """`{name, description, parameters}` as `GET /tools` lists it."""
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    def function_definition(self) -> dict[str, Any]:
        """The OpenAI function-tool definition the LLM adapters translate for their vendor."""
        return {"type": "function", "function": self.describe()}


def _wait(*, context: ToolContext, done: Callable[[], bool]) -> None:
    """Poll `done` for up to TOOLS_WAIT_SECONDS (or until the caller stops)."""
    deadline = time.monotonic() + settings.TOOLS_WAIT_SECONDS
    while not done() and time.monotonic() < deadline and not context.cancelled():
        time.sleep(settings.TOOLS_POLL_SECONDS)


_UUID = {"type": "string", "format": "uuid", "pattern": "^[0-9a-fA-F-]{32,36}$"}


class SearchKnowledge(PlatformTool):
    """Hybrid search over the knowledge repositories the caller may read."""

    name = "search_knowledge"
    description = ("Search the user's knowledge repositories (documents they uploaded or that are shared with them). "
                   "Answers the best matching passages with their document and chunk ids; cite them by their `marker`.")
    role_tool = "knowledge"
    scope = "knowledge"
    parameters = {
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 2000, "description": "What to look for."},
            "repository_ids": {"type": "array", "items": _UUID, "maxItems": 50,
                               "description": "Only these repositories (default: every readable one)."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5},
        },
        "required": ["query"],
        "additionalProperties": False,
    }

    def run(self, *, context: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
        from apps.knowledge.services import knowledge_search

        hits = knowledge_search(user=context.user, query=arguments["query"], repository_ids=arguments.get("repository_ids"),
                                limit=arguments.get("limit", 5))
        results = [{
            "marker": index, "document_id": str(hit.document_id), "chunk_id": str(hit.chunk_id),
            "repository_id": str(hit.repository_id), "filename": hit.filename, "content": hit.content,
            "score": round(float(hit.score), 4),
        } for index, hit in enumerate(hits, start=1)]
        return {"results": results}


class RunArchitectTool(PlatformTool):
    """Run an Assistant Architect chain the caller may see, charged as an architect execution."""

    name = "run_architect_tool"
    description = ("Run a published Assistant Architect prompt chain with the given inputs; waits for it to finish "
                   "(up to 60 s) and answers its outputs, else the execution's id and status.")
    role_tool = "assistant-architect"
    scope = "architect"
    parameters = {
        "type": "object",
        "properties": {
            "tool_id": {**_UUID, "description": "The chain's id."},
            "inputs": {"type": "object", "description": "Input field values by name."},
        },
        "required": ["tool_id"],
        "additionalProperties": False,
    }

    def run(self, *, context: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
        from apps.architect.models import Execution, ExecutionStatus
        from apps.architect.selectors import tool_get
        from apps.architect.services import execution_start

        tool = tool_get(user=context.user, tool_id=arguments["tool_id"])
        execution = execution_start(user=context.user, tool=tool, inputs=arguments.get("inputs") or {})
        final = (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)
        _wait(context=context, done=lambda: Execution.objects.filter(pk=execution.pk, status__in=final).exists())
        execution.refresh_from_db()
        result: dict[str, Any] = {"execution_id": str(execution.pk), "status": execution.status}
        if execution.status in final:
            result["outputs"] = [{"name": r.name, "status": r.status, "output": r.output} for r in execution.results.order_by("position")]
            result["cost"] = float(execution.cost)
            if execution.error:
                result["error"] = execution.error
        return result


class RunWorkflow(PlatformTool):
    """Start a run of a workflow the caller may see; waits for it, then answers its id and status."""

    name = "run_workflow"
    description = ("Start a run of one of the user's workflows with the given input; waits up to 60 s and answers "
                   "the run's id, status and, when it finished, each step's output.")
    role_tool = "workflows"
    scope = "workflows"
    parameters = {
        "type": "object",
        "properties": {
            "workflow_id": {**_UUID, "description": "The workflow's id."},
            "input": {"type": "object", "description": "The run's input."},
        },
        "required": ["workflow_id"],
        "additionalProperties": False,
    }

    def run(self, *, context: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
        from apps.workflows.models import Run, RunStatus
        from apps.workflows.selectors import latest_attempts, workflow_get
        from apps.workflows.services import run_start

        workflow = workflow_get(user=context.user, workflow_id=arguments["workflow_id"])
        run, _created = run_start(user=context.user, workflow=workflow, input=arguments.get("input") or {})
        final = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)
        _wait(context=context, done=lambda: Run.objects.filter(pk=run.pk, status__in=final).exists())
        run.refresh_from_db()
        result: dict[str, Any] = {"run_id": str(run.pk), "status": run.status}
        if run.status in final:
            result["outputs"] = {str(index): attempt.output for index, attempt in sorted(latest_attempts(run_id=run.pk).items())}
            result["cost"] = float(run.cost)
            if run.error:
                result["error"] = run.error
        return result


class CallAgent(PlatformTool):
    """Send an A2A task to an agent the caller may see (its price held as for any task); waits for the answer."""

    name = "call_agent"
    description = ("Ask an agent (A2A) to do something: `input` is the request as text or a JSON object. Waits up to "
                   "60 s and answers the task's id, status and the agent's reply.")
    role_tool = "agents"
    scope = "agents"
    parameters = {
        "type": "object",
        "properties": {
            "agent_id": {**_UUID, "description": "The agent's id."},
            "input": {"type": ["string", "object"], "description": "What the agent should do."},
        },
        "required": ["agent_id", "input"],
        "additionalProperties": False,
    }

    def run(self, *, context: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
        from apps.agents.models import FINAL_STATUSES, Task, TaskMessage
        from apps.agents.selectors import agent_get
        from apps.agents.services import task_submit

        agent = agent_get(user=context.user, agent_id=arguments["agent_id"])
        given = arguments["input"]
        text = given if isinstance(given, str) else ""
        task = task_submit(user=context.user, agent=agent, title="Called from a tool", description=text or "See the input data.",
                           input=None if isinstance(given, str) else given)
        _wait(context=context, done=lambda: Task.objects.filter(pk=task.pk, status__in=FINAL_STATUSES).exists())
        task.refresh_from_db()
        result: dict[str, Any] = {"task_id": str(task.pk), "status": task.status}
        reply = TaskMessage.objects.filter(task=task, role="agent").order_by("-created_at").first()
        if reply is not None:
            result["reply"] = reply.parts
        if task.error:
            result["error"] = task.error
        return result


class FetchUrl(PlatformTool):
    """The text of a public web page, through the outbound-URL guard, at most TOOLS_FETCH_MAX_BYTES."""

    name = "fetch_url"
    description = "Fetch a public http(s) web page and answer its text (at most 1 MB; private addresses are refused)."
    role_tool = "chat"
    scope = "chat"
    parameters = {
        "type": "object",
        "properties": {"url": {"type": "string", "minLength": 1, "maxLength": 2048, "pattern": "^[hH][tT][tT][pP][sS]?://"}},
        "required": ["url"],
        "additionalProperties": False,
    }

    def run(self, *, context: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
        import httpx
        from asgiref.sync import async_to_sync

        from apps.core.errors import ServiceUnavailable
        from apps.core.outbound import outbound_fetch, outbound_url_check

        url = arguments["url"]
        outbound_url_check(url, field="url")  # a clear 400 before any connection; the fetch checks again per hop
        try:
            page = async_to_sync(outbound_fetch)("GET", url, field="url", headers={"Accept": "text/*, */*;q=0.5"},
                                                 timeout=settings.TOOLS_FETCH_TIMEOUT_SECONDS,
                                                 max_bytes=settings.TOOLS_FETCH_MAX_BYTES, max_redirects=5, truncate=True)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"Could not fetch the page: {type(exc).__name__}.") from exc
        return {"url": page.url, "status": page.status, "content_type": page.headers.get("content-type", ""),
                "text": page.text(), "truncated": page.truncated}


class _IntegrationTool(PlatformTool):
    """A tool that acts through a saved connection of the caller: listed only once that connection exists."""

    role_tool = "chat"
    scope = "chat"
    connection_kind: ClassVar[str]

    def allowed(self, context: ToolContext) -> bool:
        from apps.integrations.selectors import connection_for_kind

        return super().allowed(context) and connection_for_kind(user=context.user, kind=self.connection_kind) is not None


class SendEmail(_IntegrationTool):
    """A plain-text mail from the caller through the platform's mail settings (their email connection is the opt-in)."""

    name = "send_email"
    description = ("Send a plain-text email on behalf of the user (Reply-To: the user) to at most 10 recipients. "
                   "Only when the user asked for it.")
    connection_kind = "email"
    parameters = {
        "type": "object",
        "properties": {
            "to": {"oneOf": [{"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 10},
                             {"type": "string", "minLength": 3}],
                   "description": "Recipient addresses (a list, or one comma-separated string)."},
            "subject": {"type": "string", "minLength": 1, "maxLength": 200},
            "body": {"type": "string", "maxLength": 100_000},
        },
        "required": ["to", "subject", "body"],
        "additionalProperties": False,
    }

    def run(self, *, context: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
        from apps.integrations.services import email_send

        sent = email_send(user=context.user, to=arguments["to"], subject=arguments["subject"], body=arguments["body"])
        return {"sent": True, "to": sent.to, "subject": sent.subject}


class SlackMessage(_IntegrationTool):
    """A message to a Slack channel with the caller's saved bot token."""

    name = "slack_message"
    description = "Post a message to a Slack channel (#name or channel id) with the user's Slack connection."
    connection_kind = "slack"
    parameters = {
        "type": "object",
        "properties": {
            "channel": {"type": "string", "minLength": 1, "maxLength": 100},
            "text": {"type": "string", "minLength": 1, "maxLength": 40_000},
        },
        "required": ["channel", "text"],
        "additionalProperties": False,
    }

    def run(self, *, context: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
        from apps.integrations.services import slack_message_send

        posted = slack_message_send(user=context.user, channel=arguments["channel"], text=arguments["text"])
        return {"posted": True, "channel": posted.channel, "ts": posted.ts}


def tool_get(*, name: str) -> PlatformTool:
    """A registered platform tool by name, else 404."""
    tool = platform_tools().get(name)
    if tool is None:
        raise NotFound(f"There is no tool named `{name}`.")
    return tool


def tool_list_for(*, context: ToolContext) -> list[PlatformTool]:
    """The tools the caller's roles and key scopes cover, in registry order."""
    return [tool for tool in platform_tools().values() if tool.allowed(context)]


def tool_run(*, context: ToolContext, name: str, arguments: Any) -> dict[str, Any]:
    """Run one tool as the caller: 404 unknown, 403 not covered, 400 bad arguments, else the tool's result."""
    return tool_get(name=name).invoke(user=context.user, api_key=context.api_key, arguments=arguments, cancelled=context.cancelled)
