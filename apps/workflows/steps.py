"""What each step kind does, given its resolved config: `(output, usage)` or a StepFailed.

Model calls go through apps/llm and hold credits through the metering seam with (run, step,
attempt) as the hold's ref, so a step re-run after a lost worker settles one hold only once.
"""
from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from simpleeval import InvalidExpression

from apps.billing.metering import call_hold, hold_release, hold_settle
from apps.core.db import db_sync_to_async
from apps.core.errors import ApplicationError
from apps.core.runs import shielded
from apps.knowledge.services import knowledge_search
from apps.llm.client import achat_prepare, complete_prepared, cost_estimate, usage_flush
from apps.llm.selectors import usage_record_for_request, usage_summary

from .expressions import expression_evaluate
from .models import Run, StepKind

if TYPE_CHECKING:
    from .models import StepRun


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
    raise StepFailed("STEP_KIND_UNAVAILABLE", f"Steps of kind {kind!r} are not available on this server.", retryable=False)


def condition_run(*, run: Run, config: dict[str, Any], outputs: dict[str, Any]) -> bool:
    """The truth of a condition step's expression (StepFailed when it cannot be evaluated)."""
    try:
        return expression_evaluate(config["expression"], run_input=run.input, outputs=outputs)
    except (InvalidExpression, SyntaxError, ArithmeticError, TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        raise StepFailed("CONDITION_ERROR", f"The condition could not be evaluated: {exc}") from exc


@sync_to_async
def _spent(run_id: Any) -> Decimal:
    return Run.objects.values_list("cost", flat=True).get(pk=run_id)


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


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)
