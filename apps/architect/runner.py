"""Runs one execution inside a Celery task: claim it, run its positions, publish events, settle credits.

Idempotent per execution: a worker first *claims* the execution (pending, or running with a stale
heartbeat), so a redelivered or re-queued task never runs beside a live one. Prompts whose result
is already `completed` are skipped and their outputs reused, so nothing is run or charged twice.
While it runs, `apps.core.runs.run_watch` renews the heartbeat (the lease), polls the cancel flag,
and enforces the deadline; cancelling the chain closes the running provider streams (they meter
what they produced). Executions whose worker vanished are re-queued or failed by `stale_reap`.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.billing.metering import call_hold, hold_find, hold_settle
from apps.core.db import db_sync_to_async
from apps.core.errors import ApplicationError
from apps.core.reaping import stuck_reap
from apps.core.runs import cancel_clear, run_watch, shielded, worker_id
from apps.core.streams import apublish, publish
from apps.llm.client import achat_prepare, stream_prepared
from apps.llm.selectors import usage_record_for_request, usage_summary

from .chain import positions, render
from .models import FINAL_STATUSES, Execution, ExecutionStatus, PromptResult, ResultStatus
from .selectors import execution_cancel_key, execution_stream_key

logger = logging.getLogger("nexus.architect")


def new_request_id(execution_id: Any, prompt_id: Any) -> str:
    """The llm request id of one prompt of one execution (usage records are found by it)."""
    return f"architect.{execution_id}.{prompt_id}.{uuid.uuid4().hex[:8]}"


class PromptFailed(Exception):
    """One prompt of the chain failed; the chain stops after its position."""

    def __init__(self, prompt: dict[str, Any], error: ApplicationError) -> None:
        super().__init__(error.message)
        self.prompt = prompt
        self.error = error


@dataclass
class Run:
    """One claimed execution being run by this worker."""

    execution: Execution
    worker: str
    done: dict[str, PromptResult]
    key: str
    stop_reason: str | None = None
    reservations: dict[str, Any] = field(default_factory=dict)


def _claim(execution_id: Any, worker: str) -> tuple[Execution, bool] | None:
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.ARCHITECT_STALE_SECONDS)
    claimable = Q(status=ExecutionStatus.PENDING) | Q(status=ExecutionStatus.RUNNING, heartbeat_at__lt=stale_before)
    before = Execution.objects.filter(pk=execution_id).values("started_at").first()
    if before is None:
        return None
    claimed = Execution.objects.filter(claimable, pk=execution_id).update(
        status=ExecutionStatus.RUNNING, worker=worker, heartbeat_at=now, attempts=F("attempts") + 1,
        started_at=Coalesce(F("started_at"), now),
    )
    if not claimed:
        return None  # finished, cancelled, or alive on another worker
    return Execution.objects.select_related("owner").get(pk=execution_id), before["started_at"] is None


def execution_run(*, execution_id: Any) -> str:
    """Run an execution to its end on this worker (or do nothing when it is not ours to run); returns its status."""
    worker = worker_id()
    claim = _claim(execution_id, worker)
    if claim is None:
        return "skipped"
    execution, first = claim
    key = execution_stream_key(execution.pk)
    done = {str(r.prompt_id): r for r in PromptResult.objects.filter(execution=execution, status=ResultStatus.COMPLETED)}
    if first:
        # Published from here, on this process's long-lived Redis client: the first event does not wait
        # for the event loop and its fresh connections.
        publish(key, {"type": "execution_started", "execution_id": str(execution.pk), "total_prompts": execution.total_prompts})
    run = Run(execution=execution, worker=worker, done=done, key=key)
    return async_to_sync(_run)(run)


async def _run(run: Run) -> str:
    execution = run.execution
    main = asyncio.ensure_future(_positions(run))
    deadline = execution.deadline_at.timestamp()
    watcher = asyncio.ensure_future(run_watch(
        execution_cancel_key(execution.pk), main, beat=lambda: _beat(run), beat_every=settings.ARCHITECT_HEARTBEAT_SECONDS,
        check=lambda: "timeout" if time.time() >= deadline else None,
    ))
    failure: PromptFailed | None = None
    unexpected = False
    try:
        await main
    except asyncio.CancelledError:
        if not main.cancelled():
            raise  # this task itself is being cancelled (worker shutdown)
    except PromptFailed as exc:
        failure = exc
    except Exception:
        logger.exception("Execution %s failed", execution.pk)
        unexpected = True
    finally:
        if watcher.done() and not watcher.cancelled() and watcher.exception() is None:
            run.stop_reason = watcher.result()
        watcher.cancel()
    return await _finish(run, failure=failure, unexpected=unexpected)


async def _positions(run: Run) -> None:
    snapshot = run.execution.snapshot
    outputs: dict[str, str] = {}
    positional: dict[int, str] = {}
    for group in positions(snapshot["prompts"]):
        tasks = [asyncio.ensure_future(_prompt(run, prompt, outputs, positional)) for prompt in group]
        got = await asyncio.gather(*tasks, return_exceptions=True)
        failures = [item for item in got if isinstance(item, BaseException)]
        if failures:
            for item in failures:
                if isinstance(item, PromptFailed):
                    raise item
            raise failures[0]
        texts = [item for item in got if not isinstance(item, BaseException)]  # all of them: any failure raised above
        for prompt, output in zip(group, texts, strict=True):
            outputs[prompt["name"]] = output
        if len(group) == 1:
            positional[int(group[0]["position"])] = texts[0]


async def _prompt(run: Run, prompt: dict[str, Any], outputs: dict[str, str], positional: dict[int, str]) -> str:
    prompt_id = prompt["id"]
    earlier = run.done.get(prompt_id)
    if earlier is not None:
        return earlier.output  # completed by an earlier attempt: never run (or charged) twice
    inputs = run.execution.inputs
    content = render(prompt["content"], inputs=inputs, outputs=outputs, positional=positional)
    system = render(prompt["system_prompt"], inputs=inputs, outputs=outputs, positional=positional)
    started = time.monotonic()
    await _result_begin(run, prompt)
    await apublish(run.key, {"type": "prompt_started", "prompt_id": prompt_id, "position": prompt["position"], "name": prompt["name"]})
    try:
        prepared = await achat_prepare(
            user=run.execution.owner, model=prompt["model_name"], messages=[{"role": "user", "content": content}],
            system_prompt=system or None, request_id=new_request_id(run.execution.pk, prompt_id), origin="architect",
        )
        reservation = await _reserve(run, prompt, prepared)
    except asyncio.CancelledError:
        await shielded(_result_end(run, prompt, status=ResultStatus.CANCELLED, output="", usage=None, started=started,
                                    error=None, reservation=None))
        raise
    except ApplicationError as exc:
        await _result_end(run, prompt, status=ResultStatus.FAILED, output="", usage=None, started=started,
                          error={"code": exc.code, "message": exc.message}, reservation=None)
        raise PromptFailed(prompt, exc) from exc
    text: list[str] = []
    usage: dict[str, Any] | None = None
    stream = stream_prepared(prepared)
    try:
        async for event in stream:
            if event.type == "text-delta":
                text.append(event.content)
                await apublish(run.key, {"type": "prompt_chunk", "prompt_id": prompt_id, "content": event.content})
            elif event.type == "finish" and event.usage is not None:
                usage = {**event.usage.as_dict(), "usage_record_id": event.usage_record_id}
    except asyncio.CancelledError:
        # Close the provider stream first (it meters the stop), then charge what was produced.
        await shielded(stream.aclose())
        await shielded(_result_end(run, prompt, status=ResultStatus.CANCELLED, output="".join(text),
                                    usage=await shielded(_usage_of(prepared.request_id)), started=started, error=None,
                                    reservation=reservation))
        raise
    except ApplicationError as exc:
        await shielded(stream.aclose())
        await _result_end(run, prompt, status=ResultStatus.FAILED, output="".join(text), usage=await _usage_of(prepared.request_id),
                          started=started, error={"code": exc.code, "message": exc.message}, reservation=reservation)
        raise PromptFailed(prompt, exc) from exc
    output = "".join(text)
    metadata = await _result_end(run, prompt, status=ResultStatus.COMPLETED, output=output, usage=usage, started=started, error=None,
                                 reservation=reservation)
    await apublish(run.key, {"type": "prompt_complete", "prompt_id": prompt_id, "output": output, "metadata": metadata})
    return output


@sync_to_async
def _result_begin(run: Run, prompt: dict[str, Any]) -> None:
    PromptResult.objects.update_or_create(
        execution=run.execution, prompt_id=prompt["id"],
        defaults={"name": prompt["name"], "position": prompt["position"], "model_name": prompt["model_name"],
                  "status": ResultStatus.RUNNING, "output": "", "error": None, "finished_at": None},
    )


@sync_to_async
def _reserve(run: Run, prompt: dict[str, Any], prepared: Any) -> Any:
    """Hold the most this prompt can cost; the same ref on a re-run finds the same hold (never two)."""
    return call_hold(user=run.execution.owner, prepared=prepared, origin="architect", ref=f"{run.execution.pk}:{prompt['id']}")


@db_sync_to_async
def _usage_of(request_id: str) -> dict[str, Any] | None:
    return usage_summary(usage_record_for_request(request_id=request_id))


@sync_to_async
def _result_end(run: Run, prompt: dict[str, Any], *, status: str, output: str, usage: dict[str, Any] | None, started: float,
                error: dict[str, Any] | None, reservation: Any) -> dict[str, Any]:
    """Save a prompt's end and settle its hold in one transaction: both happen, or neither."""
    duration_ms = int((time.monotonic() - started) * 1000)
    cost = Decimal(str((usage or {}).get("cost") or 0))
    record_id = (usage or {}).get("usage_record_id")
    with transaction.atomic():
        PromptResult.objects.filter(execution=run.execution, prompt_id=prompt["id"]).update(
            status=status, output=output, prompt_tokens=(usage or {}).get("prompt_tokens") or 0,
            completion_tokens=(usage or {}).get("completion_tokens") or 0, cost=cost, duration_ms=duration_ms,
            usage_record_id=record_id, error=error, finished_at=timezone.now(),
        )
        hold_settle(reservation=reservation, usage=usage)
    return {"model": prompt["model_name"], "tokens": {"prompt": (usage or {}).get("prompt_tokens") or 0,
                                                      "completion": (usage or {}).get("completion_tokens") or 0,
                                                      "total": (usage or {}).get("total_tokens") or 0},
            "cost": float(cost), "duration_ms": duration_ms, "usage_record_id": record_id}


@sync_to_async
def _beat(run: Run) -> bool:
    """Renew the heartbeat; False when the execution is no longer ours (re-queued elsewhere, reaped)."""
    return bool(Execution.objects.filter(pk=run.execution.pk, worker=run.worker, status=ExecutionStatus.RUNNING)
                .update(heartbeat_at=timezone.now()))


def results_payload(execution: Execution) -> list[dict[str, Any]]:
    """Per-prompt results as events and the API show them."""
    return [
        {"prompt_id": str(r.prompt_id), "name": r.name, "position": r.position, "status": r.status, "output": r.output,
         "error": r.error, "metadata": {"model": r.model_name, "tokens": {"prompt": r.prompt_tokens, "completion": r.completion_tokens,
                                                                          "total": r.total_tokens},
                                        "cost": float(r.cost), "duration_ms": r.duration_ms,
                                        "usage_record_id": str(r.usage_record_id) if r.usage_record_id else None}}
        for r in PromptResult.objects.filter(execution=execution).order_by("position", "started_at")
    ]


@sync_to_async
def _end(run: Run, *, status: str, error: dict[str, Any] | None) -> tuple[bool, list[dict[str, Any]]]:
    execution = run.execution
    results = PromptResult.objects.filter(execution=execution)
    cost = sum((r.cost for r in results), Decimal(0))
    tokens = sum(r.total_tokens for r in results)
    ended = Execution.objects.filter(pk=execution.pk, worker=run.worker, status=ExecutionStatus.RUNNING).update(
        status=status, error=error, cost=cost, total_tokens=tokens, finished_at=timezone.now())
    return bool(ended), results_payload(execution)


async def _finish(run: Run, *, failure: PromptFailed | None, unexpected: bool) -> str:
    execution_id = str(run.execution.pk)
    if run.stop_reason == "lost":
        return "lost"  # another worker (or the reaper) owns it now; it ends the stream
    error: dict[str, Any] | None = None
    if failure is not None:
        status = ExecutionStatus.FAILED
        error = {"code": failure.error.code, "message": f"Prompt '{failure.prompt['name']}' failed: {failure.error.message}",
                 "prompt_id": failure.prompt["id"], "prompt_name": failure.prompt["name"]}
    elif unexpected:
        status = ExecutionStatus.FAILED
        error = {"code": "INTERNAL_ERROR", "message": "The execution failed; outputs produced so far are kept."}
    elif run.stop_reason == "timeout":
        status = ExecutionStatus.FAILED
        error = {"code": "EXECUTION_TIMEOUT",
                 "message": f"The execution stopped after its time limit of {settings.ARCHITECT_EXECUTION_TIMEOUT_SECONDS} seconds."}
    elif run.stop_reason == "cancelled":
        status = ExecutionStatus.CANCELLED
    else:
        status = ExecutionStatus.COMPLETED
    ended, results = await _end(run, status=status, error=error)
    if not ended:
        return "lost"
    if status == ExecutionStatus.COMPLETED:
        event: dict[str, Any] = {"type": "execution_complete", "execution_id": execution_id, "results": results}
    elif status == ExecutionStatus.CANCELLED:
        event = {"type": "execution_cancelled", "execution_id": execution_id}
    else:
        event = {"type": "execution_failed", "execution_id": execution_id, "error": error}
    await apublish(run.key, event, final=True)
    await cancel_clear(execution_cancel_key(execution_id))
    return str(status)


# ------------------------------------------------------------------------------------------------
# Ending executions from outside their run: the reaper of vanished workers, and timeouts
# ------------------------------------------------------------------------------------------------

def execution_fail(*, execution_id: Any, code: str, message: str, only_if: dict[str, Any] | None = None) -> bool:
    """End a non-final execution as failed (reaper, timeouts); publishes `execution_failed`. False if it had ended."""
    error = {"code": code, "message": message}
    filters = {"pk": execution_id, **(only_if or {})}
    updated = Execution.objects.filter(**filters).exclude(status__in=FINAL_STATUSES).update(
        status=ExecutionStatus.FAILED, error=error, finished_at=timezone.now())
    if updated:
        _holds_close(execution_id)
        publish(execution_stream_key(execution_id), {"type": "execution_failed", "execution_id": str(execution_id), "error": error},
                final=True)
    return bool(updated)


def _holds_close(execution_id: Any) -> None:
    """Settle the holds a dead run left open: what each prompt's usage record shows was produced, else nothing."""
    execution = Execution.objects.filter(pk=execution_id).first()
    if execution is None:
        return
    for prompt in execution.snapshot.get("prompts", []):
        hold = hold_find(origin="architect", ref=f"{execution_id}:{prompt['id']}")
        if hold is None or hold.status != "held":
            continue
        record = usage_record_for_request(request_id=f"architect.{execution_id}.{prompt['id']}.", prefix=True)
        hold_settle(reservation=hold, usage=usage_summary(record))  # no record: nothing was produced, all of it goes back


def stale_reap(*, now: datetime | None = None) -> tuple[dict[str, int], list[Any]]:
    """Fail overdue executions; put those whose worker vanished back to pending (or fail them after the last attempt).

    Returns the counts and the ids put back to pending, which the caller queues again; prompts
    that completed are skipped by the next run, so nothing is run or charged twice.
    """
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.ARCHITECT_STALE_SECONDS)
    counts = {"requeued": 0, "failed": 0, "timed_out": 0}
    requeue: list[Any] = []
    overdue = Execution.objects.exclude(status__in=FINAL_STATUSES).filter(deadline_at__lt=stale_before)
    for execution_id in overdue.values_list("pk", flat=True):
        if execution_fail(execution_id=execution_id, code="EXECUTION_TIMEOUT",
                          message=f"The execution did not finish within {settings.ARCHITECT_EXECUTION_TIMEOUT_SECONDS} seconds."):
            counts["timed_out"] += 1
    # Queued but never claimed for a while: the message went down with a killed worker that had
    # prefetched it (the broker gives unacknowledged messages back only after its visibility
    # timeout, an hour). Queue it again; the claim makes a second delivery a no-op.
    def give_up(row: Any) -> bool:
        return execution_fail(execution_id=row.pk, code="WORKER_LOST",
                              message="The worker running this execution stopped, and it was retried already.",
                              only_if={"status": ExecutionStatus.RUNNING, "heartbeat_at__lt": stale_before})

    lost = stuck_reap(Execution.objects.filter(status=ExecutionStatus.PENDING, created_at__lt=stale_before).filter(
        Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True)), put_back={"heartbeat_at": now},
        requeue=lambda row: requeue.append(row.pk))
    # Running with a stale heartbeat: its worker vanished. Back to pending, or failed after the last attempt.
    stale = stuck_reap(Execution.objects.filter(status=ExecutionStatus.RUNNING, heartbeat_at__lt=stale_before),
                       put_back={"status": ExecutionStatus.PENDING, "worker": ""}, requeue=lambda row: requeue.append(row.pk),
                       max_attempts=settings.ARCHITECT_MAX_ATTEMPTS, give_up=give_up)
    counts["requeued"] += lost.requeued + stale.requeued
    counts["failed"] += stale.failed
    return counts, requeue
