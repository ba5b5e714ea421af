"""The durable scheduler: run state lives in PostgreSQL, Celery only carries ids.

`run_advance(run_id)` locks the run row and moves it on: it creates the first attempt of every
step, skips the steps whose dependencies failed or were skipped (or whose condition was false),
queues every step whose dependencies completed (`step_execute`, in parallel), and ends the run
once every step has ended. It is idempotent, so it is simply called again whenever a step ends.

`step_execute(run_id, index, attempt)` is idempotent by (run, step, attempt): it claims the
StepRun row (queued, or held by a worker whose heartbeat stopped), runs the step with a timeout
while renewing its heartbeat and watching the run's cancel flag, and records the outcome. A
failed attempt with retries left creates the next attempt, queued after its backoff; the last
failed attempt leaves its downstream to `run_advance`, which skips it and fails the run.

Model calls hold credits with the step's (run, step, attempt) as the hold's ref: a step re-run
after its worker died finds the same hold, which settles once, so nothing is charged twice.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from decimal import Decimal
from importlib import import_module
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.core.queues import enqueue
from apps.core.runs import CANCELLED, run_watch, worker_id
from apps.core.streams import publish

from .definition import resolve
from .models import RUN_ENDED, STEP_ENDED, Run, RunStatus, StepKind, StepRun, StepStatus
from .selectors import latest_attempts, run_cancel_key, run_stream_key
from .steps import BudgetExceeded, StepFailed, condition_run, step_kind_run

logger = logging.getLogger("nexus.workflows")

ADVANCE_TASK = "apps.workflows.tasks.run_advance"
STEP_TASK = "apps.workflows.tasks.step_execute"


def _emit(run_id: Any, data: dict[str, Any], *, final: bool = False) -> None:
    """Publish an event on the run's stream once the current transaction commits (best effort)."""
    key = run_stream_key(run_id)

    def send() -> None:
        try:
            publish(key, {"run_id": str(run_id), **data}, final=final)
        except Exception:  # the state is in PostgreSQL; a lost event is replaced by the next read of the run
            logger.warning("Could not publish %s on %s", data.get("type"), key)

    transaction.on_commit(send)


def _step_queue(run_id: Any, index: int, attempt: int, *, countdown: float = 0.0) -> None:
    def send() -> None:
        if STEP_TASK not in current_app.tasks:
            import_module(STEP_TASK.rsplit(".", 1)[0])  # registers it (the web process never autodiscovers)
        current_app.tasks[STEP_TASK].apply_async(args=(str(run_id), index, attempt), countdown=countdown)

    if countdown <= 0:
        enqueue(STEP_TASK, str(run_id), index, attempt)
    else:
        transaction.on_commit(send)


def _skip_reason(run: Run, step: dict[str, Any], latest: dict[int, StepRun]) -> str | None:
    for parent in step["depends_on"]:
        before = latest[parent]
        if before.status in (StepStatus.FAILED, StepStatus.CANCELLED):
            return f"Step {run.steps[parent]['name']!r} failed."
        if before.status == StepStatus.SKIPPED:
            return f"Step {run.steps[parent]['name']!r} was skipped."
        if before.status == StepStatus.COMPLETED and run.steps[parent]["kind"] == StepKind.CONDITION and before.output is False:
            return f"The condition {run.steps[parent]['name']!r} was false."
    return None


def run_advance(*, run_id: Any) -> str:
    """Move a run on (idempotent): skip what cannot run, queue what can, end the run when every step has ended."""
    return _advance(run_id=run_id, keep_one=False)[0]


@transaction.atomic
def _advance(*, run_id: Any, keep_one: bool) -> tuple[str, tuple[int, int] | None]:
    """`run_advance`; with `keep_one`, the first ready step is marked queued but returned instead of sent (run inline)."""
    kept: tuple[int, int] | None = None
    run = Run.objects.select_for_update().filter(pk=run_id).first()
    if run is None or run.status in RUN_ENDED:
        return "ended", None
    now = timezone.now()
    if run.status == RunStatus.PENDING:
        run.status = RunStatus.RUNNING
        run.started_at = now
        run.save(update_fields=["status", "started_at"])
        _emit(run.pk, {"type": "run:started", "version": run.version})
    latest = latest_attempts(run_id=run.pk)
    for index, step in enumerate(run.steps):
        if index not in latest:
            latest[index] = StepRun.objects.create(run=run, index=index, name=step["name"], kind=step["kind"], attempt=1)
    for index, step in enumerate(run.steps):
        current = latest[index]
        if current.status != StepStatus.PENDING:
            continue
        reason = _skip_reason(run, step, latest)
        if reason:
            current.status, current.finished_at = StepStatus.SKIPPED, now
            current.error = {"code": "SKIPPED", "message": reason}
            current.save(update_fields=["status", "finished_at", "error"])
            _emit(run.pk, {"type": "step:skipped", "step": step["name"], "index": index, "reason": reason})
            continue
        if all(latest[parent].status == StepStatus.COMPLETED for parent in step["depends_on"]):
            # Queued: no worker yet (`worker` empty); the heartbeat dates the queueing, for the reaper.
            current.status, current.heartbeat_at = StepStatus.RUNNING, now
            current.save(update_fields=["status", "heartbeat_at"])
            _emit(run.pk, {"type": "step:queued", "step": step["name"], "index": index, "attempt": current.attempt})
            if keep_one and kept is None:
                kept = (index, current.attempt)
            else:
                _step_queue(run.pk, index, current.attempt)
    if all(attempt.status in STEP_ENDED for attempt in latest.values()):
        return _run_end(run, latest, now), None
    return "running", kept


def _run_end(run: Run, latest: dict[int, StepRun], now: datetime) -> str:
    failed = [latest[i] for i in sorted(latest) if latest[i].status == StepStatus.FAILED]
    if failed:
        error = failed[0].error or {}
        run.status = RunStatus.FAILED
        run.error = {"code": error.get("code") or "STEP_FAILED", "step": failed[0].name,
                     "message": error.get("message") or f"Step {failed[0].name!r} failed."}
    elif any(attempt.status == StepStatus.CANCELLED for attempt in latest.values()):
        run.status = RunStatus.CANCELLED
    else:
        run.status = RunStatus.COMPLETED
        run.error = None
    run.finished_at = now
    run.save(update_fields=["status", "error", "finished_at"])
    _emit(run.pk, {"type": f"run:{run.status}", "status": run.status, "error": run.error, "cost": str(run.cost)}, final=True)
    return str(run.status)


def _claim(run_id: Any, index: int, attempt: int) -> tuple[Run, StepRun] | None:
    """Take the attempt for this worker: queued, or held by a worker whose heartbeat stopped; None otherwise."""
    stale_before = timezone.now() - timedelta(seconds=settings.WORKFLOWS_STALE_SECONDS)
    with transaction.atomic():
        step_run = StepRun.objects.select_for_update().filter(run_id=run_id, index=index, attempt=attempt).first()
        if step_run is None or step_run.status != StepStatus.RUNNING:
            return None  # ended, cancelled or skipped already: a redelivery does nothing
        if step_run.worker and step_run.heartbeat_at and step_run.heartbeat_at >= stale_before:
            return None  # a live worker holds it
        run = Run.objects.select_related("user").get(pk=run_id)  # the step reads run.user from async code
        if run.status != RunStatus.RUNNING:
            return None
        now = timezone.now()
        step_run.worker, step_run.heartbeat_at = worker_id(), now
        step_run.started_at = step_run.started_at or now
        step_run.save(update_fields=["worker", "heartbeat_at", "started_at"])
        _emit(run_id, {"type": "step:started", "step": step_run.name, "index": index, "attempt": attempt})
    return run, step_run


def _outputs(run_id: Any) -> dict[str, Any]:
    return {attempt.name: attempt.output for attempt in latest_attempts(run_id=run_id).values() if attempt.status == StepStatus.COMPLETED}


def step_execute(*, run_id: Any, index: int, attempt: int) -> str:
    """Run one attempt of one step (idempotent by run, step and attempt), record what happened, and move the run on.

    One step made ready by this one's end runs next in this same task (a chain costs no broker round
    trip per step); the others are queued. An inline step is claimed like a queued one, so a worker
    dying in it leaves it to the reaper (its heartbeat stops) like any other.
    """
    outcome, following = _execute_one(run_id, index, attempt)
    while following is not None:
        _outcome, following = _execute_one(run_id, *following)
    return outcome


def _execute_one(run_id: Any, index: int, attempt: int) -> tuple[str, tuple[int, int] | None]:
    claimed = _claim(run_id, index, attempt)
    if claimed is None:
        return "skipped", None
    run, step_run = claimed
    step = run.steps[index]
    outputs = _outputs(run.pk)
    config = resolve(step["config"], run_input=run.input, outputs=outputs)
    StepRun.objects.filter(pk=step_run.pk).update(input=config)
    me = worker_id()
    try:
        if step["kind"] == StepKind.CONDITION:
            # Instant and bounded (simpleeval limits its work): no event loop, watcher or timeout needed.
            result = (condition_run(run=run, config=config, outputs=outputs), None)
        else:
            result = async_to_sync(_supervised)(run, step_run, step, config, me)
    except BudgetExceeded as exc:
        _attempt_fail(run, step_run, step, {"code": "BUDGET_EXCEEDED", "message": exc.message}, retry=False)
        outcome = "failed"
    except StepFailed as exc:
        _attempt_fail(run, step_run, step, {"code": exc.code, "message": exc.message}, retry=exc.retryable, usage=exc.usage)
        outcome = "failed"
    else:
        if result is CANCELLED:
            _attempt_cancelled(run, step_run)
            return "cancelled", None
        if result == "lost":
            return "lost", None
        _attempt_complete(run, step_run, result)
        outcome = "completed"
    # The step has ended: move the run on here (idempotent), saving a round trip through the broker.
    return outcome, _advance(run_id=run.pk, keep_one=True)[1]


async def _supervised(run: Run, step_run: StepRun, step: dict[str, Any], config: dict[str, Any], me: str) -> Any:
    """The step's work under its timeout, stopped by the run's cancel flag or a lost claim."""
    outputs = await sync_to_async(_outputs)(run.pk)
    work = asyncio.ensure_future(asyncio.wait_for(step_kind_run(run=run, step_run=step_run, step=step, config=config, outputs=outputs),
                                                  timeout=step["timeout"]))
    watcher = asyncio.ensure_future(run_watch(run_cancel_key(run.pk), work, beat=_beat(step_run.pk, me), beat_every=settings.WORKFLOWS_HEARTBEAT_SECONDS))
    try:
        return await work
    except asyncio.CancelledError:
        reason = await watcher
        return reason or CANCELLED
    except TimeoutError:
        raise StepFailed("TIMEOUT", f"The step did not finish within {step['timeout']} s.") from None
    except ApplicationError as exc:
        raise StepFailed(exc.code, exc.message) from exc
    finally:
        if not watcher.done():
            watcher.cancel()


def _beat(step_run_id: int, me: str) -> Any:
    @sync_to_async
    def renew() -> bool:
        return bool(StepRun.objects.filter(pk=step_run_id, worker=me, status=StepStatus.RUNNING).update(heartbeat_at=timezone.now()))

    return renew


def _log(step_run: StepRun, message: str) -> list[dict[str, Any]]:
    return [*(step_run.logs or []), {"at": timezone.now().isoformat(), "message": message}]


@transaction.atomic
def _attempt_complete(run: Run, step_run: StepRun, result: Any) -> None:
    output, usage = result
    locked = StepRun.objects.select_for_update().get(pk=step_run.pk)
    if locked.status != StepStatus.RUNNING or locked.worker != worker_id():
        return  # cancelled or taken over meanwhile
    cost = Decimal(str((usage or {}).get("cost") or 0))
    tokens = int((usage or {}).get("total_tokens") or 0)
    locked.status, locked.output, locked.finished_at = StepStatus.COMPLETED, output, timezone.now()
    locked.cost, locked.tokens = cost, tokens
    locked.logs = _log(locked, f"Completed attempt {locked.attempt}.")
    locked.save(update_fields=["status", "output", "finished_at", "cost", "tokens", "logs"])
    if cost or tokens:
        Run.objects.select_for_update().filter(pk=run.pk).first()
        run_row = Run.objects.get(pk=run.pk)
        run_row.cost += cost
        run_row.total_tokens += tokens
        run_row.save(update_fields=["cost", "total_tokens"])
    _emit(run.pk, {"type": "step:completed", "step": locked.name, "index": locked.index, "attempt": locked.attempt,
                   "output": output, "cost": str(cost), "tokens": tokens})


@transaction.atomic
def _attempt_fail(run: Run, step_run: StepRun, step: dict[str, Any], error: dict[str, Any], *, retry: bool,
                  usage: dict[str, Any] | None = None) -> None:
    locked = StepRun.objects.select_for_update().get(pk=step_run.pk)
    if locked.status != StepStatus.RUNNING or locked.worker != worker_id():
        return
    now = timezone.now()
    cost = Decimal(str((usage or {}).get("cost") or 0))
    locked.status, locked.error, locked.finished_at, locked.cost = StepStatus.FAILED, error, now, cost
    locked.logs = _log(locked, f"Attempt {locked.attempt} failed: {error['code']}: {error['message']}")
    locked.save(update_fields=["status", "error", "finished_at", "cost", "logs"])
    if cost:
        run_row = Run.objects.select_for_update().get(pk=run.pk)
        run_row.cost += cost
        run_row.save(update_fields=["cost"])
    policy = step["retry_policy"]
    retries_left = retry and locked.attempt <= policy["max_retries"]
    _emit(run.pk, {"type": "step:failed", "step": locked.name, "index": locked.index, "attempt": locked.attempt,
                   "error": error, "will_retry": retries_left})
    if retries_left:
        # Exponential backoff from the policy's base: backoff_ms, 2x, 4x, ...
        delay = policy["backoff_ms"] / 1000 * (2 ** (locked.attempt - 1))
        following = StepRun.objects.create(run_id=run.pk, index=locked.index, name=locked.name, kind=locked.kind,
                                           attempt=locked.attempt + 1, status=StepStatus.RUNNING,
                                           heartbeat_at=now + timedelta(seconds=delay))
        _emit(run.pk, {"type": "step:retrying", "step": locked.name, "index": locked.index, "attempt": following.attempt,
                       "delay_ms": int(delay * 1000)})
        _step_queue(run.pk, locked.index, following.attempt, countdown=delay)
        return
    if error["code"] == "BUDGET_EXCEEDED":
        # The budget is the run's, not the step's: nothing else starts.
        StepRun.objects.filter(run_id=run.pk, status=StepStatus.PENDING).update(
            status=StepStatus.SKIPPED, finished_at=now, error={"code": "SKIPPED", "message": "The run's budget was reached."})


@transaction.atomic
def _attempt_cancelled(run: Run, step_run: StepRun) -> None:
    StepRun.objects.filter(pk=step_run.pk, status=StepStatus.RUNNING).update(status=StepStatus.CANCELLED, finished_at=timezone.now())
    _emit(run.pk, {"type": "step:cancelled", "step": step_run.name, "index": step_run.index})


def resume_prepare(*, run: Run) -> int:
    """New pending attempts for the failed, skipped and cancelled steps of a run (the caller holds its lock); how many."""
    count = 0
    for index, attempt in latest_attempts(run_id=run.pk).items():
        if attempt.status in (StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED):
            StepRun.objects.create(run=run, index=index, name=attempt.name, kind=attempt.kind, attempt=attempt.attempt + 1)
            count += 1
    return count


def stale_reap(*, now: datetime | None = None) -> dict[str, int]:
    """Queue again the steps whose worker died (stale heartbeat, same attempt), and advance runs left without work."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.WORKFLOWS_STALE_SECONDS)
    counts = {"requeued": 0, "advanced": 0}
    for step_run in StepRun.objects.filter(status=StepStatus.RUNNING, heartbeat_at__lt=stale_before, run__status=RunStatus.RUNNING):
        with transaction.atomic():
            # Claimable again by whoever gets the task (the attempt and its credit hold stay the same).
            updated = StepRun.objects.filter(pk=step_run.pk, status=StepStatus.RUNNING, heartbeat_at__lt=stale_before).update(
                worker="", heartbeat_at=now)
            if updated:
                _step_queue(step_run.run_id, step_run.index, step_run.attempt)
                counts["requeued"] += 1
    idle = Run.objects.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING], created_at__lt=stale_before).exclude(
        step_runs__status=StepStatus.RUNNING)
    for run_id in idle.values_list("pk", flat=True):
        enqueue(ADVANCE_TASK, str(run_id), on_commit=False)
        counts["advanced"] += 1
    return counts
