"""Workflows writes: definitions (validated and versioned), trigger secrets, starting, cancelling and resuming runs."""
from __future__ import annotations

import secrets
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.selectors import workspace_for_sharing
from apps.core.errors import ValidationError
from apps.core.queues import enqueue
from apps.core.runs import cancel_request
from apps.core.streams import publish, streams_available
from apps.llm.crypto import decrypt_secret, encrypt_secret

from .definition import normalized, steps_errors
from .errors import RunEnded, RunNotResumable, VersionConflict
from .models import RUN_ENDED, Run, RunStatus, StepRun, StepStatus, Trigger, Workflow, WorkflowVersion
from .runner import resume_prepare
from .selectors import run_cancel_key, run_stream_key

if TYPE_CHECKING:
    from apps.accounts.models import User

ADVANCE_TASK = "apps.workflows.tasks.run_advance"
SECRET_PREFIX = "whs_"


def _clean_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("A workflow needs a name.", details={"name": ["Required."]})
    if len(name.strip()) > 200:
        raise ValidationError("The name is too long.", details={"name": ["At most 200 characters."]})
    return name.strip()


def _clean_max_cost(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        cost = Decimal(str(value))
    except (InvalidOperation, ValueError):
        cost = Decimal(-1)
    if not cost.is_finite() or cost <= 0 or cost >= Decimal("1e8") or isinstance(value, bool):
        raise ValidationError("max_cost must be a positive number of credits.", details={"max_cost": ["A positive number below 1e8."]})
    return cost.quantize(Decimal("0.000001"))


def _clean_steps(steps: Any) -> list[dict[str, Any]]:
    errors = steps_errors(steps)
    if errors:
        field, messages = next(iter(errors.items()))
        raise ValidationError(f"Invalid steps: {field}: {messages[0]}", details=errors)
    return normalized(steps)


def _new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def trigger_secret(*, workflow: Workflow) -> str:
    """The workflow's trigger secret in clear (to check a webhook's signature)."""
    return decrypt_secret(workflow.trigger_secret_encrypted)


def _version_save(*, workflow: Workflow, user: User | None) -> None:
    WorkflowVersion.objects.create(workflow=workflow, version=workflow.version, steps=workflow.steps,
                                   max_cost=workflow.max_cost, created_by=user)


@transaction.atomic
def workflow_create(*, user: User, name: Any, steps: Any, description: str = "", max_cost: Any = None,
                    workspace_id: Any = None) -> tuple[Workflow, str]:
    """Validate and store a workflow (version 1); returns it with its trigger secret, shown this once."""
    clean_name = _clean_name(name)
    cost = _clean_max_cost(max_cost)
    clean_steps = _clean_steps(steps)
    secret = _new_secret()
    workflow = Workflow.objects.create(
        owner=user, workspace_id=workspace_for_sharing(user=user, workspace_id=workspace_id), name=clean_name,
        description=description or "", max_cost=cost, steps=clean_steps, trigger_secret_encrypted=encrypt_secret(secret),
    )
    _version_save(workflow=workflow, user=user)
    return workflow, secret


@transaction.atomic
def workflow_update(*, user: User, workflow: Workflow, data: dict[str, Any]) -> Workflow:
    """Change a workflow; new steps or a new budget make a new version (runs keep the version they ran)."""
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    changed_definition = False
    if "name" in data:
        workflow.name = _clean_name(data["name"])
    if "description" in data:
        workflow.description = data["description"] or ""
    if "workspace_id" in data:
        workflow.workspace_id = workspace_for_sharing(user=user, workspace_id=data["workspace_id"])
    if "max_cost" in data:
        cost = _clean_max_cost(data["max_cost"])
        changed_definition |= cost != workflow.max_cost
        workflow.max_cost = cost
    if "steps" in data:
        steps = _clean_steps(data["steps"])
        changed_definition |= steps != workflow.steps
        workflow.steps = steps
    if changed_definition:
        workflow.version += 1
    workflow.save()
    if changed_definition:
        _version_save(workflow=workflow, user=user)
    return workflow


@transaction.atomic
def workflow_delete(*, workflow: Workflow) -> None:
    """Delete a workflow, asking its running runs to stop first."""
    for run_id in Run.objects.filter(workflow=workflow).exclude(status__in=RUN_ENDED).values_list("pk", flat=True):
        cancel_request(run_cancel_key(run_id))
    workflow.delete()


@transaction.atomic
def workflow_duplicate(*, user: User, workflow: Workflow) -> tuple[Workflow, str]:
    """A private copy for the caller (version 1, a new trigger secret shown once)."""
    return workflow_create(user=user, name=f"{workflow.name} (copy)"[:200], steps=workflow.steps,
                           description=workflow.description, max_cost=workflow.max_cost)


@transaction.atomic
def trigger_secret_rotate(*, workflow: Workflow) -> str:
    """Replace the trigger secret (the old one stops working now); returns the new one, shown once."""
    secret = _new_secret()
    Workflow.objects.filter(pk=workflow.pk).update(trigger_secret_encrypted=encrypt_secret(secret))
    workflow.trigger_secret_encrypted = encrypt_secret(secret)
    return secret


def _clean_input(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError("The input must be a JSON object.", details={"input": ["A JSON object."]})
    return value


def run_start(*, user: User, workflow: Workflow, input: Any = None, trigger: str = Trigger.MANUAL,
              idempotency_key: str = "") -> tuple[Run, bool]:
    """Create a pending run of the workflow's current version and queue its scheduler; (run, created).

    With an `idempotency_key` already used on this workflow, the first run is answered and nothing starts.
    """
    run_input = _clean_input(input)
    key = (idempotency_key or "")[:200]
    if key:
        earlier = Run.objects.filter(workflow=workflow, idempotency_key=key).first()
        if earlier is not None:
            return earlier, False
    streams_available()  # events go through Redis: 503 now rather than a run nobody can follow
    try:
        with transaction.atomic():
            run = Run.objects.create(workflow=workflow, user=user, version=workflow.version, steps=workflow.steps,
                                     max_cost=workflow.max_cost, input=run_input, trigger=trigger, idempotency_key=key)
            enqueue(ADVANCE_TASK, str(run.pk))
    except IntegrityError:  # the same key delivered twice at once: the other delivery made the run
        return Run.objects.get(workflow=workflow, idempotency_key=key), False
    return run, True


@transaction.atomic
def run_cancel(*, run: Run) -> Run:
    """Stop a run: pending steps are cancelled now, running ones by their workers (cancel flag) within a poll."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    if run.status in RUN_ENDED:
        raise RunEnded()
    cancel_request(run_cancel_key(run.pk))
    now = timezone.now()
    StepRun.objects.filter(run=run, status=StepStatus.PENDING).update(status=StepStatus.CANCELLED, finished_at=now)
    run.status = RunStatus.CANCELLED
    run.finished_at = now
    run.error = {"code": "CANCELLED", "message": "The run was cancelled."}
    run.save(update_fields=["status", "finished_at", "error"])
    key = run_stream_key(run.pk)
    transaction.on_commit(lambda: publish(key, {"type": "run:cancelled", "run_id": str(run.pk)}, final=True))
    return run


@transaction.atomic
def run_resume(*, run: Run) -> Run:
    """Re-run the failed and skipped steps of a failed run (new attempts), keeping the outputs of the completed ones."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    if run.status != RunStatus.FAILED:
        raise RunNotResumable()
    streams_available()
    resume_prepare(run=run)
    run.status = RunStatus.RUNNING
    run.error = None
    run.finished_at = None
    run.save(update_fields=["status", "error", "finished_at"])
    key = run_stream_key(run.pk)
    run_id = str(run.pk)
    transaction.on_commit(lambda: publish(key, {"type": "run:resumed", "run_id": run_id}))
    enqueue(ADVANCE_TASK, run_id)
    return run


BLOCK_OPERATIONS = ("block:add", "block:update", "block:delete")


def _shift_after_delete(steps: list[dict[str, Any]], removed: int) -> list[dict[str, Any]]:
    """Steps without step `removed`: dependencies on it dropped, later indices moved down by one."""
    kept = []
    for index, step in enumerate(steps):
        if index == removed:
            continue
        depends = [parent - (parent > removed) for parent in step.get("depends_on") or [] if parent != removed]
        kept.append({**step, "depends_on": depends})
    return kept


def _index_of(data: dict[str, Any], steps: list[dict[str, Any]]) -> int:
    index = data.get("index")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(steps):
        raise ValidationError("`index` must name an existing step.", details={"index": ["An existing step's 0-based index."]})
    return index


@transaction.atomic
def workflow_block_apply(*, user: User, workflow: Workflow, operation: str, data: Any, version: Any) -> Workflow:
    """Apply one editor operation to the steps if `version` is the current one (else VersionConflict); a new version."""
    locked = Workflow.objects.select_for_update().get(pk=workflow.pk)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValidationError("`version` is required: the workflow version the edit was made on.", details={"version": ["An integer."]})
    if version != locked.version:
        raise VersionConflict(locked.version)
    if not isinstance(data, dict):
        raise ValidationError("`data` must be an object.", details={"data": ["An object."]})
    steps = [dict(step) for step in locked.steps]
    if operation == "block:add":
        step = data.get("step")
        steps.append(step if isinstance(step, dict) else data)
    elif operation == "block:update":
        index = _index_of(data, steps)
        if not isinstance(data.get("step"), dict):
            raise ValidationError("`step` must be an object.", details={"step": ["The step's new definition."]})
        steps[index] = data["step"]
    elif operation == "block:delete":
        steps = _shift_after_delete(steps, _index_of(data, steps))
    else:
        raise ValidationError(f"Unknown operation {operation!r}.")
    return workflow_update(user=user, workflow=locked, data={"steps": steps})
