"""Workflows reads, scoped to the caller: a workflow is its owner's and its workspace members'; runs follow their workflow."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Case, F, JSONField, QuerySet, Value, When

from apps.accounts.selectors import can_write, visible_to
from apps.core.errors import Forbidden
from apps.core.runs import cancel_key
from apps.core.selectors import get_or_404
from apps.core.streams import stream_key

from .models import Run, Schedule, StepKind, StepRun, StepStatus, Workflow

if TYPE_CHECKING:
    from apps.accounts.models import User


def workflow_list(*, user: User) -> QuerySet[Workflow]:
    """Workflows the caller may see: their own and those shared with a workspace they belong to."""
    return visible_to(user=user, queryset=Workflow.objects.all())


def workflow_get(*, user: User, workflow_id: Any) -> Workflow:
    """A workflow the caller may see, else 404."""
    return get_or_404(workflow_list(user=user), "Workflow not found.", pk=workflow_id)


def workflow_can_edit(*, user: User, workflow: Workflow) -> bool:
    """Its owner, or an owner/admin of the workspace it is shared with."""
    return can_write(user=user, obj=workflow)


def workflow_get_for_write(*, user: User, workflow_id: Any) -> Workflow:
    """A workflow the caller may change: 404 when invisible, 403 when read-only to them."""
    workflow = workflow_get(user=user, workflow_id=workflow_id)
    if not workflow_can_edit(user=user, workflow=workflow):
        raise Forbidden("Only the workflow's owner (or its workspace's owners and admins) can change it.")
    return workflow


def run_list(*, user: User, workflow: Workflow | None = None) -> QuerySet[Run]:
    """Runs of the workflows the caller may see, newest first."""
    runs = Run.objects.filter(workflow__in=workflow_list(user=user))
    if workflow is not None:
        runs = runs.filter(workflow=workflow)
    return runs.select_related("workflow")


def run_get(*, user: User, run_id: Any) -> Run:
    """A run of a workflow the caller may see, else 404."""
    return get_or_404(run_list(user=user), "Run not found.", pk=run_id)


def step_runs(*, run: Run) -> list[StepRun]:
    """Every attempt of every step of a run, by step then attempt."""
    return list(StepRun.objects.filter(run=run).order_by("index", "attempt"))


def latest_attempts(*, run_id: Any) -> dict[int, StepRun]:
    """The latest attempt of each step of a run, by step index."""
    latest: dict[int, StepRun] = {}
    for step_run in StepRun.objects.filter(run_id=run_id).order_by("index", "attempt"):
        latest[step_run.index] = step_run
    return latest


@dataclass(slots=True)
class AttemptState:
    """What the scheduler reads of an attempt on every step's end (not its input, output or logs)."""

    pk: int
    index: int
    attempt: int
    name: str
    status: str
    condition_output: Any  # a completed condition's truth; None for the other kinds


def attempt_states(*, run_id: Any) -> dict[int, AttemptState]:
    """The latest attempt of each step of a run, by step index, as plain rows (read on every step's end).

    Plain rows, not models, and no outputs (an HTTP step's can be a megabyte): a 50-step run reads
    this 50 times.
    """
    rows = StepRun.objects.filter(run_id=run_id).order_by("index", "attempt").values_list(
        "pk", "index", "attempt", "name", "status",
        Case(When(kind=StepKind.CONDITION, status=StepStatus.COMPLETED, then=F("output")), default=Value(None),
             output_field=JSONField()))
    return {row[1]: AttemptState(*row) for row in rows}


def run_stream_key(run_id: Any) -> str:
    """The Redis stream of a run's events."""
    return stream_key("workflows", run_id)


def run_cancel_key(run_id: Any) -> str:
    """The cancel flag (apps.core.runs) that asks the workers running a run's steps to stop."""
    return cancel_key("workflows", run_id)


def schedule_list(*, workflow: Workflow) -> QuerySet[Schedule]:
    """A workflow's schedules (the caller's access to the workflow is checked by its selector)."""
    return Schedule.objects.filter(workflow=workflow)


def schedule_get(*, workflow: Workflow, schedule_id: Any) -> Schedule:
    """One schedule of a workflow, else 404."""
    return get_or_404(schedule_list(workflow=workflow), "Schedule not found.", pk=schedule_id)
