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
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from importlib import import_module
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, F, Func, JSONField, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.core.queues import enqueue
from apps.core.reaping import stuck_reap
from apps.core.runs import CANCELLED, run_watch, worker_id
from apps.core.streams import publish_many

from .definition import resolve
from .models import RUN_ENDED, STEP_ENDED, Run, RunStatus, StepKind, StepRun, StepStatus
from .selectors import AttemptState, attempt_states, latest_attempts, run_cancel_key, run_stream_key
from .steps import BudgetExceeded, StepFailed, condition_run, step_kind_run

logger = logging.getLogger("nexus.workflows")

ADVANCE_TASK = "apps.workflows.tasks.run_advance"
STEP_TASK = "apps.workflows.tasks.step_execute"


class _EventBatch:
    """The run events of one transaction, published in order in one round trip once it commits."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any], bool]] = []
        self.callback = self.flush  # one bound method, so the connection's pending hooks can be searched for it

    def flush(self) -> None:
        by_key: dict[str, list[tuple[dict[str, Any], bool]]] = {}
        for key, data, final in self.events:
            by_key.setdefault(key, []).append((data, final))
        for key, events in by_key.items():
            try:
                publish_many(key, events)
            except Exception:  # the state is in PostgreSQL; a lost event is replaced by the next read of the run
                logger.warning("Could not publish %d event(s) on %s", len(events), key)


def _emit(run_id: Any, data: dict[str, Any], *, final: bool = False) -> None:
    """Publish an event on the run's stream once the current transaction commits (best effort).

    A transaction's events go out together (a step's end and the next step's start: one Redis call).
    A batch whose transaction rolled back is gone from the connection's commit hooks, and is replaced.
    """
    event = (run_stream_key(run_id), {"run_id": str(run_id), **data}, final)
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        single = _EventBatch()
        single.events.append(event)
        single.flush()
        return
    batch: _EventBatch | None = getattr(connection, "_workflow_events", None)
    if batch is None or not any(hook[1] is batch.callback for hook in connection.run_on_commit):
        batch = _EventBatch()
        connection._workflow_events = batch
        transaction.on_commit(batch.callback)
    batch.events.append(event)


def _step_queue(run_id: Any, index: int, attempt: int, *, countdown: float = 0.0) -> None:
    def send() -> None:
        if STEP_TASK not in current_app.tasks:
            import_module(STEP_TASK.rsplit(".", 1)[0])  # registers it (the web process never autodiscovers)
        current_app.tasks[STEP_TASK].apply_async(args=(str(run_id), index, attempt), countdown=countdown)

    if countdown <= 0:
        enqueue(STEP_TASK, str(run_id), index, attempt)
    else:
        transaction.on_commit(send)


def _skip_reason(run: Run, step: dict[str, Any], latest: dict[int, AttemptState]) -> str | None:
    for parent in step["depends_on"]:
        before = latest[parent]
        if before.status in (StepStatus.FAILED, StepStatus.CANCELLED):
            return f"Step {run.steps[parent]['name']!r} failed."
        if before.status == StepStatus.SKIPPED:
            return f"Step {run.steps[parent]['name']!r} was skipped."
        if before.status == StepStatus.COMPLETED and run.steps[parent]["kind"] == StepKind.CONDITION and before.condition_output is False:
            return f"The condition {run.steps[parent]['name']!r} was false."
    return None


def run_advance(*, run_id: Any) -> str:
    """Move a run on (idempotent): skip what cannot run, queue what can, end the run when every step has ended."""
    return _advance(run_id=run_id, keep_one=False)[0]


Claimed = tuple[Run, StepRun]


@transaction.atomic
def _advance(*, run_id: Any, keep_one: bool, ended: Callable[[Run], None] | None = None) -> tuple[str, Claimed | None]:
    """`run_advance` under the run's row lock.

    `ended(run)` first records the outcome of the step that just ended, in the same transaction (one
    commit per step). With `keep_one`, the first ready step is claimed for this worker and returned
    instead of queued: the caller runs it next, without a broker round trip or a second claim.
    """
    kept: Claimed | None = None
    # `of=("self",)`: lock the run only, not its user, while loading the user the steps run as.
    run = Run.objects.select_for_update(of=("self",)).select_related("user").filter(pk=run_id).first()
    if run is None:
        return "ended", None
    if ended is not None:
        ended(run)
    if run.status in RUN_ENDED:
        return "ended", None
    now = timezone.now()
    if run.status == RunStatus.PENDING:
        run.status = RunStatus.RUNNING
        run.started_at = now
        run.save(update_fields=["status", "started_at"])
        _emit(run.pk, {"type": "run:started", "version": run.version})
    latest = attempt_states(run_id=run.pk)
    missing = [StepRun(run=run, index=index, name=step["name"], kind=step["kind"], attempt=1)
               for index, step in enumerate(run.steps) if index not in latest]
    for created in StepRun.objects.bulk_create(missing):
        latest[created.index] = AttemptState(created.pk, created.index, created.attempt, created.name, created.status, None)
    me = worker_id()
    for index, step in enumerate(run.steps):
        current = latest[index]
        if current.status != StepStatus.PENDING:
            continue
        reason = _skip_reason(run, step, latest)
        if reason:
            current.status = StepStatus.SKIPPED
            StepRun.objects.filter(pk=current.pk).update(status=StepStatus.SKIPPED, finished_at=now,
                                                         error={"code": "SKIPPED", "message": reason})
            _emit(run.pk, {"type": "step:skipped", "step": step["name"], "index": index, "reason": reason})
            continue
        if all(latest[parent].status == StepStatus.COMPLETED for parent in step["depends_on"]):
            # Queued: no worker yet (`worker` empty); the heartbeat dates the queueing, for the reaper.
            current.status = StepStatus.RUNNING
            _emit(run.pk, {"type": "step:queued", "step": step["name"], "index": index, "attempt": current.attempt})
            if keep_one and kept is None:
                StepRun.objects.filter(pk=current.pk).update(status=StepStatus.RUNNING, heartbeat_at=now, worker=me,
                                                             started_at=Coalesce(F("started_at"), Value(now, output_field=DateTimeField())))
                _emit(run.pk, {"type": "step:started", "step": step["name"], "index": index, "attempt": current.attempt})
                kept = (run, StepRun(pk=current.pk, run=run, index=index, name=current.name, kind=step["kind"],
                                     attempt=current.attempt, status=StepStatus.RUNNING, worker=me, heartbeat_at=now))
            else:
                StepRun.objects.filter(pk=current.pk).update(status=StepStatus.RUNNING, heartbeat_at=now)
                _step_queue(run.pk, index, current.attempt)
    if all(attempt.status in STEP_ENDED for attempt in latest.values()):
        return _run_end(run, latest, now), None
    return "running", kept


def _run_end(run: Run, latest: dict[int, AttemptState], now: datetime) -> str:
    failed = [latest[i] for i in sorted(latest) if latest[i].status == StepStatus.FAILED]
    if failed:
        error = StepRun.objects.values_list("error", flat=True).get(pk=failed[0].pk) or {}
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


def _claim(run_id: Any, index: int, attempt: int) -> Claimed | None:
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
    """The outputs of the run's completed steps by name (a completed step is never re-run, so one per name)."""
    return dict(StepRun.objects.filter(run_id=run_id, status=StepStatus.COMPLETED).values_list("name", "output"))


def step_execute(*, run_id: Any, index: int, attempt: int) -> str:
    """Run one attempt of one step (idempotent by run, step and attempt), record what happened, and move the run on.

    One step made ready by this one's end runs next in this same task (a chain costs no broker round
    trip per step); the others are queued. An inline step is claimed like a queued one, so a worker
    dying in it leaves it to the reaper (its heartbeat stops) like any other.
    """
    claimed = _claim(run_id, index, attempt)
    if claimed is None:
        return "skipped"
    outcome = "skipped"
    while claimed is not None:
        outcome, claimed = _execute_one(*claimed)
    return outcome


def _execute_one(run: Run, step_run: StepRun) -> tuple[str, Claimed | None]:
    index = step_run.index
    step = run.steps[index]
    outputs = _outputs(run.pk)
    config = resolve(step["config"], run_input=run.input, outputs=outputs)
    step_run.input = config
    me = worker_id()
    try:
        if step["kind"] == StepKind.CONDITION:
            # Instant and bounded (simpleeval limits its work): no event loop, watcher or timeout needed;
            # its input is written with its outcome.
            result = (condition_run(run=run, config=config, outputs=outputs), None)
        else:
            StepRun.objects.filter(pk=step_run.pk).update(input=config)  # shown while the step runs
            result = async_to_sync(_supervised)(run, step_run, step, config, outputs, me)
    except BudgetExceeded as exc:
        return "failed", _ended(run, step_run, partial(_attempt_fail, step_run=step_run, step=step,
                                                       error={"code": "BUDGET_EXCEEDED", "message": exc.message}, retry=False))
    except StepFailed as exc:
        return "failed", _ended(run, step_run, partial(_attempt_fail, step_run=step_run, step=step,
                                                       error={"code": exc.code, "message": exc.message},
                                                       retry=exc.retryable, usage=exc.usage))
    if result is CANCELLED:
        _attempt_cancelled(run, step_run)
        return "cancelled", None
    if result == "lost":
        return "lost", None
    return "completed", _ended(run, step_run, partial(_attempt_complete, step_run=step_run, result=result))


def _ended(run: Run, step_run: StepRun, record: Callable[..., None]) -> Claimed | None:
    """Record the attempt's outcome and move the run on, in one transaction under the run's lock."""
    return _advance(run_id=run.pk, keep_one=True, ended=record)[1]


async def _supervised(run: Run, step_run: StepRun, step: dict[str, Any], config: dict[str, Any], outputs: dict[str, Any],
                      me: str) -> Any:
    """The step's work under its timeout, stopped by the run's cancel flag or a lost claim."""
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


class _JsonbAppend(Func):
    """`column || value`: appends to a JSON list inside the UPDATE (the list is never read back to grow it)."""

    template = "%(expressions)s"
    arg_joiner = " || "
    output_field = JSONField()


def _log(message: str) -> _JsonbAppend:
    return _JsonbAppend(F("logs"), Value([{"at": timezone.now().isoformat(), "message": message}], output_field=JSONField()))


def _run_add(run: Run, cost: Decimal, tokens: int) -> None:
    """Add a step's cost and tokens to its run (the caller holds the run's row lock)."""
    if cost or tokens:
        Run.objects.filter(pk=run.pk).update(cost=F("cost") + cost, total_tokens=F("total_tokens") + tokens)
        run.cost += cost
        run.total_tokens += tokens


def _attempt_complete(run: Run, *, step_run: StepRun, result: Any) -> None:
    """Record a completed attempt (the caller holds the run's lock); nothing when it was cancelled or taken over."""
    output, usage = result
    cost = Decimal(str((usage or {}).get("cost") or 0))
    tokens = int((usage or {}).get("total_tokens") or 0)
    logs = _log(f"Completed attempt {step_run.attempt}.")
    # One conditional UPDATE: only while the attempt is still this worker's and running.
    done = StepRun.objects.filter(pk=step_run.pk, status=StepStatus.RUNNING, worker=worker_id()).update(
        status=StepStatus.COMPLETED, output=output, input=step_run.input, finished_at=timezone.now(), cost=cost, tokens=tokens,
        logs=logs)
    if not done:
        return
    _run_add(run, cost, tokens)
    _emit(run.pk, {"type": "step:completed", "step": step_run.name, "index": step_run.index, "attempt": step_run.attempt,
                   "output": output, "cost": str(cost), "tokens": tokens})


def _attempt_fail(run: Run, *, step_run: StepRun, step: dict[str, Any], error: dict[str, Any], retry: bool,
                  usage: dict[str, Any] | None = None) -> None:
    """Record a failed attempt and queue its retry, if any (the caller holds the run's lock)."""
    now = timezone.now()
    cost = Decimal(str((usage or {}).get("cost") or 0))
    logs = _log(f"Attempt {step_run.attempt} failed: {error['code']}: {error['message']}")
    done = StepRun.objects.filter(pk=step_run.pk, status=StepStatus.RUNNING, worker=worker_id()).update(
        status=StepStatus.FAILED, error=error, input=step_run.input, finished_at=now, cost=cost, logs=logs)
    if not done:
        return
    _run_add(run, cost, 0)
    policy = step["retry_policy"]
    retries_left = retry and step_run.attempt <= policy["max_retries"]
    _emit(run.pk, {"type": "step:failed", "step": step_run.name, "index": step_run.index, "attempt": step_run.attempt,
                   "error": error, "will_retry": retries_left})
    if retries_left:
        # Exponential backoff from the policy's base: backoff_ms, 2x, 4x, ...
        delay = policy["backoff_ms"] / 1000 * (2 ** (step_run.attempt - 1))
        following = StepRun.objects.create(run_id=run.pk, index=step_run.index, name=step_run.name, kind=step_run.kind,
                                           attempt=step_run.attempt + 1, status=StepStatus.RUNNING,
                                           heartbeat_at=now + timedelta(seconds=delay))
        _emit(run.pk, {"type": "step:retrying", "step": step_run.name, "index": step_run.index, "attempt": following.attempt,
                       "delay_ms": int(delay * 1000)})
        _step_queue(run.pk, step_run.index, following.attempt, countdown=delay)
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
    # Claimable again by whoever gets the task (the attempt and its credit hold stay the same).
    stale = stuck_reap(StepRun.objects.filter(status=StepStatus.RUNNING, heartbeat_at__lt=stale_before, run__status=RunStatus.RUNNING),
                       put_back={"worker": "", "heartbeat_at": now}, fields=("run_id", "index", "attempt"),
                       requeue=lambda row: _step_queue(row.run_id, row.index, row.attempt))
    counts["requeued"] = stale.requeued
    idle = Run.objects.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING], created_at__lt=stale_before).exclude(
        step_runs__status=StepStatus.RUNNING)
    for run_id in idle.values_list("pk", flat=True):
        enqueue(ADVANCE_TASK, str(run_id), on_commit=False)
        counts["advanced"] += 1
    return counts
