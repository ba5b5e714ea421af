"""What each step kind does, given its resolved config: `(output, usage)` or a StepFailed.

Model calls go through apps/llm and hold credits through the metering seam with (run, step,
attempt) as the hold's ref, so a step re-run after a lost worker settles one hold only once.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from simpleeval import InvalidExpression

from apps.accounts.selectors import user_has_tool
from apps.agents.models import FINAL_STATUSES as TASK_FINAL
from apps.agents.models import Task, TaskArtifact, TaskMessage, TaskStatus
from apps.agents.selectors import agent_get
from apps.agents.services import task_cancel, task_forward, task_submit
from apps.architect.models import FINAL_STATUSES as EXECUTION_FINAL
from apps.architect.models import Execution, ExecutionStatus, ToolStatus
from apps.architect.runner import execution_run, results_payload
from apps.architect.selectors import tool_get
from apps.architect.services import execution_cancel, execution_minimum_cost, execution_start
from apps.billing.metering import call_hold, hold_release, hold_settle
from apps.core.db import db_sync_to_async
from apps.core.errors import ApplicationError
from apps.core.outbound import OutboundResponseTooLarge, OutboundUrlRefused, outbound_fetch
from apps.core.runs import shielded
from apps.knowledge.services import knowledge_search
from apps.llm.client import achat_prepare, complete_prepared, cost_estimate, usage_flush
from apps.llm.selectors import usage_record_for_request, usage_summary

from .expressions import expression_evaluate
from .models import Run, StepKind, StepRun

T = TypeVar("T")


class StepFailed(Exception):
    """An attempt failed; `retryable` says whether the retry policy applies."""

    def __init__(self, code: str, message: str, *, retryable: bool = True, usage: dict[str, Any] | None = None) -> None:
        self.code, self.message, self.retryable, self.usage = code, message, retryable, usage
        super().__init__(message)


class BudgetExceeded(Exception):
    """The next step would pass the run's `max_cost`."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


async def step_kind_run(*, run: Run, step_run: StepRun, step: dict[str, Any], config: dict[str, Any],
                        outputs: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    """Run one step of kind `step["kind"]` with its resolved `config`."""
    kind = step["kind"]
    if kind == StepKind.CONDITION:
        return condition_run(run=run, config=config, outputs=outputs), None
    if kind == StepKind.LLM:
        return await _llm(run=run, step_run=step_run, config=config)
    if kind == StepKind.KNOWLEDGE_SEARCH:
        return await _knowledge_search(run=run, config=config), None
    if kind == StepKind.HTTP:
        return await _http(config=config, timeout=float(step["timeout"])), None
    if kind == StepKind.ARCHITECT:
        return await _architect(run=run, step_run=step_run, config=config)
    if kind == StepKind.AGENT_TASK:
        return await _agent_task(run=run, step_run=step_run, config=config, timeout=int(step["timeout"]))
    raise StepFailed("STEP_KIND_UNAVAILABLE", f"Steps of kind {kind!r} are not available on this server.", retryable=False)


def condition_run(*, run: Run, config: dict[str, Any], outputs: dict[str, Any]) -> bool:
    """The truth of a condition step's expression (StepFailed when it cannot be evaluated)."""
    try:
        return expression_evaluate(config["expression"], run_input=run.input, outputs=outputs)
    except (InvalidExpression, SyntaxError, ArithmeticError, TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        raise StepFailed("CONDITION_ERROR", f"The condition could not be evaluated: {exc}") from exc


def _run_spent(run_id: Any) -> Decimal:
    """What the run has been charged so far (its budget checks read it before each paid step)."""
    return Run.objects.values_list("cost", flat=True).get(pk=run_id)


_spent = sync_to_async(_run_spent)


_ahold = db_sync_to_async(call_hold)
_asettle = db_sync_to_async(hold_settle)
_arelease = db_sync_to_async(hold_release)
_arecord = db_sync_to_async(usage_record_for_request)


async def _usage_of(request_id: str, user_id: Any) -> dict[str, Any] | None:
    await usage_flush()
    return usage_summary(await _arecord(request_id=request_id, user_id=user_id))


async def _llm(*, run: Run, step_run: StepRun, config: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    ref = f"{run.pk}:{step_run.index}:{step_run.attempt}"
    try:
        prepared = await achat_prepare(
            user=run.user, model=config["model_id"], messages=[{"role": "user", "content": _text(config["prompt"])}],
            system_prompt=_text(config.get("system_prompt")) or None, temperature=config.get("temperature"),
            max_tokens=config.get("max_tokens"), request_id=f"wf-{ref}".replace(":", "-"), origin="workflows",
        )
    except ApplicationError as exc:
        raise StepFailed(exc.code, exc.message, retryable=False) from exc
    if run.max_cost is not None:
        spent = await _spent(run.pk)
        most = Decimal(str(cost_estimate(prepared=prepared)))
        if spent + most > run.max_cost:
            raise BudgetExceeded(f"This step could cost up to {most} credits; the run has spent {spent} of its {run.max_cost}.")
    try:
        hold = await _ahold(user=run.user, prepared=prepared, origin="workflows", ref=ref)
    except ApplicationError as exc:
        raise StepFailed(exc.code, exc.message, retryable=False) from exc
    try:
        completion = await complete_prepared(prepared)
    except asyncio.CancelledError:
        await shielded(_settle_recorded(hold, prepared))
        raise
    except ApplicationError as exc:
        usage = await shielded(_settle_recorded(hold, prepared))
        raise StepFailed(exc.code, exc.message, usage=usage) from exc
    usage = {**(completion.usage.as_dict() if completion.usage else {}), "usage_record_id": completion.usage_record_id}
    await _asettle(reservation=hold, usage=usage)
    return completion.text, usage


async def _settle_recorded(hold: Any, prepared: Any) -> dict[str, Any] | None:
    """Charge what the usage record says was produced (nothing recorded: release the hold)."""
    usage = await _usage_of(prepared.request_id, prepared.user_id)
    await _asettle(reservation=hold, usage=usage)
    return usage


@db_sync_to_async
def _knowledge_search(*, run: Run, config: dict[str, Any]) -> list[dict[str, Any]]:
    """The passages of the run's user's repositories (all readable ones, or `repository_ids`) for `query`."""
    query = _text(config.get("query")).strip()
    if not query:
        raise StepFailed("VALIDATION_ERROR", "The search query is empty once its references are filled in.", retryable=False)
    hits = knowledge_search(user=run.user, query=query, repository_ids=config.get("repository_ids") or None,
                            limit=int(config.get("limit") or 5), mode=config.get("mode") or "hybrid")
    return [{"content": hit.content, "score": hit.score, "rank": hit.rank, "filename": hit.filename,
             "document_id": str(hit.document_id), "repository_id": str(hit.repository_id), "metadata": hit.metadata}
            for hit in hits]


# Statuses an HTTP step may try again (the others are the request's own fault).
_HTTP_RETRYABLE = {408, 425, 429, 500, 502, 503, 504}


async def _http(*, config: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Call a public URL through the outbound guard: `{status, headers, body}` (JSON parsed when it is JSON)."""
    url = _text(config.get("url")).strip()
    try:
        response = await outbound_fetch(config["method"], url, field="url", headers=config.get("headers") or None,
                                        body=config.get("body"), timeout=timeout, max_bytes=settings.WORKFLOWS_HTTP_MAX_BYTES)
    except OutboundUrlRefused as exc:
        raise StepFailed("URL_REFUSED", exc.message, retryable=False) from exc
    except OutboundResponseTooLarge as exc:
        raise StepFailed("RESPONSE_TOO_LARGE", exc.message, retryable=False) from exc
    except httpx.HTTPError as exc:
        raise StepFailed("HTTP_ERROR", f"The request to {url} failed: {exc.__class__.__name__}: {exc}") from exc
    body: Any = response.text()
    if response.content_type == "application/json" or response.content_type.endswith("+json"):
        try:
            body = json.loads(response.content or b"null")
        except ValueError:
            pass  # declared JSON but is not: the text is more use than an error
    if response.status >= 400:
        raise StepFailed("HTTP_ERROR", f"{url} answered {response.status}: {_text(body)[:300]}",
                         retryable=response.status in _HTTP_RETRYABLE)
    keep = ("content-type", "content-length", "etag", "last-modified", "location")
    return {"status": response.status, "headers": {k: v for k, v in response.headers.items() if k in keep}, "body": body}


def _external_retryable(exc: ApplicationError) -> bool:
    return exc.status_code in (429, 503)


@db_sync_to_async
def _external_begin(step_run_id: int, kind: str, start: Callable[[], str]) -> str:
    """The id of the execution or task this attempt runs: the one it started already, or a new one from `start()`.

    Started under the attempt's row lock, so a redelivered attempt follows what its dead worker started.
    """
    with transaction.atomic():
        row = StepRun.objects.select_for_update().get(pk=step_run_id)
        prefix = f"{kind}:"
        if row.external_ref.startswith(prefix):
            return row.external_ref[len(prefix):]
        try:
            ident = start()
        except ApplicationError as exc:
            raise StepFailed(exc.code, exc.message, retryable=_external_retryable(exc)) from exc
        row.external_ref = f"{prefix}{ident}"
        row.save(update_fields=["external_ref"])
        return ident


async def _until(read: Callable[[], Awaitable[T]], done: Callable[[T], bool]) -> T:
    """Poll `read()` until `done` says so (the step's timeout and cancel bound the wait)."""
    while True:
        value = await read()
        if done(value):
            return value
        await asyncio.sleep(settings.WORKFLOWS_EXTERNAL_POLL_SECONDS)


async def _architect(*, run: Run, step_run: StepRun, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Run a published Assistant Architect chain as the run's user, in this worker; its last output is the step's."""
    user = run.user

    def start() -> str:
        if not user_has_tool(user, "assistant-architect"):
            raise StepFailed("FORBIDDEN", "The run's owner may not use Assistant Architect.", retryable=False)
        tool = tool_get(user=user, tool_id=config["tool_id"])
        if tool.status != ToolStatus.PUBLISHED:
            raise StepFailed("TOOL_NOT_PUBLISHED", f"The chain {tool.name!r} is not published.", retryable=False)
        inputs = config.get("inputs") or {}
        if run.max_cost is not None:
            spent = _run_spent(run.pk)
            least = execution_minimum_cost(user=user, tool=tool, inputs=inputs)
            if spent + least > run.max_cost:
                raise BudgetExceeded(f"The chain costs at least {least} credits; the run has spent {spent} of its {run.max_cost}.")
        return str(execution_start(user=user, tool=tool, inputs=inputs, queue=False).pk)

    execution_id = await _external_begin(step_run.pk, "architect", start)
    try:
        # Run here: a step waiting on a queue its own worker also serves could wait for itself.
        # A redelivered attempt whose execution another worker still holds is skipped by the claim.
        await db_sync_to_async(execution_run)(execution_id=execution_id)
        execution = await _until(db_sync_to_async(lambda: Execution.objects.get(pk=execution_id)),
                                 lambda found: found.status in EXECUTION_FINAL)
    except asyncio.CancelledError:
        await shielded(db_sync_to_async(_architect_stop)(execution_id))
        raise
    usage = {"cost": str(execution.cost), "total_tokens": execution.total_tokens, "execution_id": execution_id}
    if execution.status != ExecutionStatus.COMPLETED:
        error = execution.error or {}
        raise StepFailed(error.get("code") or "EXECUTION_FAILED",
                         error.get("message") or f"The chain's execution {execution_id} ended {execution.status}.", usage=usage)
    results = await db_sync_to_async(results_payload)(execution)
    last = max((r["position"] for r in results), default=0)
    outputs = [r["output"] or "" for r in results if r["position"] == last and r["status"] == "completed"]
    return "\n\n".join(outputs), usage


def _architect_stop(execution_id: str) -> None:
    execution = Execution.objects.filter(pk=execution_id).first()
    if execution is not None and execution.status not in EXECUTION_FINAL:
        execution_cancel(execution=execution)


async def _agent_task(*, run: Run, step_run: StepRun, config: dict[str, Any], timeout: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Send an A2A task to an agent as the run's user and wait for its end: `{task_id, status, text, data, artifacts}`."""
    user = run.user
    payload = config["input"]

    def start() -> str:
        if not user_has_tool(user, "agents"):
            raise StepFailed("FORBIDDEN", "The run's owner may not use agents.", retryable=False)
        agent = agent_get(user=user, agent_id=config["agent_id"])
        if run.max_cost is not None:
            spent = _run_spent(run.pk)
            if spent + agent.price_per_task > run.max_cost:
                raise BudgetExceeded(f"The agent charges {agent.price_per_task} credits a task; the run has spent {spent} "
                                     f"of its {run.max_cost}.")
        text = payload if isinstance(payload, str) else ""
        task = task_submit(user=user, agent=agent, title=f"Workflow run {run.pk}: step {step_run.name}"[:200],
                           description=text or f"Step {step_run.name} of a workflow run.",
                           input=None if isinstance(payload, str) else payload,
                           timeout_seconds=min(timeout, settings.AGENTS_TASK_MAX_TIMEOUT_SECONDS), forward=False)
        return str(task.pk)

    task_id = await _external_begin(step_run.pk, "agent_task", start)
    try:
        await db_sync_to_async(task_forward)(task_id=task_id)  # claimed: a live worker forwarding it already is left alone
        task = await _until(db_sync_to_async(lambda: Task.objects.get(pk=task_id)),
                            lambda found: found.status in TASK_FINAL or found.status == TaskStatus.INPUT_REQUIRED)
    except asyncio.CancelledError:
        await shielded(db_sync_to_async(_agent_stop)(task_id))
        raise
    usage = {"cost": str(task.price if task.status == TaskStatus.COMPLETED else 0), "task_id": task_id}
    if task.status == TaskStatus.INPUT_REQUIRED:
        await db_sync_to_async(_agent_stop)(task_id)
        raise StepFailed("AGENT_INPUT_REQUIRED", "The agent asked for more input, which a workflow step cannot give.",
                         retryable=False, usage={**usage, "cost": "0"})
    if task.status != TaskStatus.COMPLETED:
        error = task.error or {}
        raise StepFailed(error.get("code") or f"AGENT_TASK_{str(task.status).upper()}",
                         error.get("message") or f"The agent's task ended {task.status}.", usage=usage)
    return await db_sync_to_async(_agent_output)(task), usage


def _agent_stop(task_id: str) -> None:
    task = Task.objects.filter(pk=task_id).first()
    if task is not None and task.status not in TASK_FINAL:
        try:
            task_cancel(task=task)
        except ApplicationError:
            pass  # it ended meanwhile


def _agent_output(task: Task) -> dict[str, Any]:
    texts: list[str] = []
    data: list[Any] = []
    for message in TaskMessage.objects.filter(task=task, role="agent").order_by("created_at"):
        for part in message.parts or []:
            if part.get("kind") == "text":
                texts.append(str(part.get("text") or ""))
            elif part.get("kind") == "data":
                data.append(part.get("data"))
    artifacts = [{"artifact_id": a.artifact_id, "name": a.name, "parts": a.parts} for a in TaskArtifact.objects.filter(task=task)]
    for artifact in artifacts:
        texts.extend(str(p.get("text") or "") for p in artifact["parts"] or [] if p.get("kind") == "text")
    return {"task_id": str(task.pk), "status": str(task.status), "text": "\n".join(t for t in texts if t),
            "data": data[0] if len(data) == 1 else data, "artifacts": artifacts}


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)
