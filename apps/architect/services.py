"""Assistant Architect writes: tools (validated on save), duplicates, starting and cancelling executions."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import redis
from django.apps import apps as django_apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.limits import hourly_quota_add, hourly_quota_check
from apps.accounts.policy import tier_policy
from apps.accounts.selectors import user_workspace_ids
from apps.core.errors import ApplicationError, NotFound, RateLimited, ValidationError
from apps.core.streams import publish, stream_key
from apps.llm.selectors import model_resolve_for_user
from apps.llm.tokens import estimate_tokens

from .chain import definition_errors, render
from .errors import ExecutionFinished, InputsTooLarge, ToolInvalid, ToolNotRunnable
from .models import (
    FINAL_STATUSES,
    Execution,
    ExecutionStatus,
    FieldType,
    InputField,
    Prompt,
    Tool,
    ToolStatus,
)
from .selectors import running_count

if TYPE_CHECKING:
    from apps.accounts.models import User

MAX_FIELDS = 50
MAX_PROMPTS = 50
MAX_CONTENT_CHARS = 100_000


def execution_stream_key(execution_id: Any) -> str:
    """The Redis stream of an execution's events."""
    return stream_key("architect", execution_id)


def cancel_flag_key(execution_id: Any) -> str:
    """Set to ask the worker running an execution to stop."""
    return f"nexus:architect:cancel:{execution_id}"


# ------------------------------------------------------------------------------------------------
# Tools
# ------------------------------------------------------------------------------------------------

def _clean_fields(raw: Any, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors["input_fields"] = ["Must be a list of fields."]
        return []
    if len(raw) > MAX_FIELDS:
        errors["input_fields"] = [f"At most {MAX_FIELDS} input fields."]
    clean = []
    for index, item in enumerate(raw[:MAX_FIELDS]):
        if not isinstance(item, dict):
            errors[f"input_fields[{index}]"] = ["Must be an object {name, label, type, required, options}."]
            continue
        kind = item.get("type") or FieldType.TEXT
        if kind not in FieldType.values:
            errors[f"input_fields[{index}].type"] = [f"Must be one of {', '.join(FieldType.values)}."]
        options = item.get("options") or []
        if not isinstance(options, list) or not all(isinstance(o, (str, int, float)) and not isinstance(o, bool) for o in options):
            errors[f"input_fields[{index}].options"] = ["Must be a list of strings."]
            options = []
        options = [str(o) for o in options]
        if kind == FieldType.SELECT and not options:
            errors[f"input_fields[{index}].options"] = ["A select field needs at least one option."]
        clean.append({
            "name": str(item.get("name") or ""), "label": str(item.get("label") or item.get("name") or "")[:200],
            "type": kind, "required": bool(item.get("required", True)), "options": options,
        })
    return clean


def _clean_prompts(raw: Any, errors: dict[str, list[str]], *, owner: User) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors["prompts"] = ["Must be a list of prompts."]
        return []
    if len(raw) > MAX_PROMPTS:
        errors["prompts"] = [f"At most {MAX_PROMPTS} prompts."]
    clean = []
    for index, item in enumerate(raw[:MAX_PROMPTS]):
        if not isinstance(item, dict):
            errors[f"prompts[{index}]"] = ["Must be an object {name, position, model_id, system_prompt, content}."]
            continue
        content = item.get("content")
        if not isinstance(content, str) or not content.strip():
            errors[f"prompts[{index}].content"] = ["Required."]
            content = ""
        elif len(content) > MAX_CONTENT_CHARS:
            errors[f"prompts[{index}].content"] = [f"At most {MAX_CONTENT_CHARS} characters."]
        system_prompt = item.get("system_prompt") or ""
        if not isinstance(system_prompt, str):
            errors[f"prompts[{index}].system_prompt"] = ["Must be a string."]
            system_prompt = ""
        position = item.get("position")
        if isinstance(position, str) and position.isdigit():
            position = int(position)
        model = item.get("model_id") or item.get("model")
        model_id, model_name = None, ""
        if not model:
            errors[f"prompts[{index}].model_id"] = ["Required."]
        else:
            try:
                entry = model_resolve_for_user(user=owner, model=model)
                model_id, model_name = entry.id, entry.name
            except ApplicationError as exc:  # unknown/inactive (404) or outside the owner's tier (403)
                errors[f"prompts[{index}].model_id"] = [exc.message]
        clean.append({
            "name": str(item.get("name") or ""), "position": position, "model_id": model_id, "model_name": model_name,
            "system_prompt": system_prompt, "content": content, "parallel_group": str(item.get("parallel_group") or "")[:64],
        })
    return clean


def _check_workspace(*, user: User, workspace_id: Any) -> Any:
    if workspace_id in (None, ""):
        return None
    if not user_workspace_ids(user).filter(workspace_id=workspace_id).exists():
        raise ValidationError("You are not a member of that workspace.", details={"workspace_id": ["Not a workspace you belong to."]})
    return workspace_id


def _validated(*, owner: User, name: Any, status: Any, input_fields: Any, prompts: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(name, str) or not name.strip():
        errors["name"] = ["Required."]
    elif len(name) > 200:
        errors["name"] = ["At most 200 characters."]
    if status not in ToolStatus.values:
        errors["status"] = [f"Must be one of {', '.join(ToolStatus.values)}."]
    fields = _clean_fields(input_fields, errors)
    clean_prompts = _clean_prompts(prompts, errors, owner=owner)
    for key, messages in definition_errors(input_fields=fields, prompts=clean_prompts).items():
        errors.setdefault(key, []).extend(messages)
    if status == ToolStatus.PUBLISHED and not clean_prompts:
        errors.setdefault("prompts", []).append("A published tool needs at least one prompt.")
    if errors:
        first = next(iter(errors.items()))
        raise ToolInvalid(f"The tool is not valid: {first[0]}: {first[1][0]}", details=errors)
    return fields, clean_prompts


def _write_parts(tool: Tool, fields: list[dict[str, Any]], prompts: list[dict[str, Any]]) -> None:
    tool.input_fields.all().delete()
    tool.prompts.all().delete()
    InputField.objects.bulk_create([InputField(tool=tool, order=i, **f) for i, f in enumerate(fields)])
    Prompt.objects.bulk_create([Prompt(tool=tool, order=i, **p) for i, p in enumerate(prompts)])


@transaction.atomic
def tool_create(*, user: User, name: Any, description: str = "", status: str = ToolStatus.DRAFT, input_fields: Any = None,
                prompts: Any = None, workspace_id: Any = None) -> Tool:
    """A new tool owned by the caller; every reference and model is checked first (400 with field details)."""
    fields, clean_prompts = _validated(owner=user, name=name, status=status, input_fields=input_fields, prompts=prompts)
    tool = Tool.objects.create(owner=user, name=name.strip(), description=description or "", status=status,
                               workspace_id=_check_workspace(user=user, workspace_id=workspace_id))
    _write_parts(tool, fields, clean_prompts)
    return tool


_UNSET: Any = object()


def _part_dicts(tool: Tool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    fields = [{"name": f.name, "label": f.label, "type": f.type, "required": f.required, "options": f.options}
              for f in tool.input_fields.order_by("order", "name")]
    prompts = [{"name": p.name, "position": p.position, "model_id": str(p.model_id or p.model_name), "system_prompt": p.system_prompt,
                "content": p.content, "parallel_group": p.parallel_group} for p in tool.prompts.order_by("position", "order")]
    return fields, prompts


@transaction.atomic
def tool_update(*, user: User, tool: Tool, name: Any = _UNSET, description: Any = _UNSET, status: Any = _UNSET,
                input_fields: Any = _UNSET, prompts: Any = _UNSET, workspace_id: Any = _UNSET) -> Tool:
    """Change a tool; `input_fields`/`prompts` replace the lists. The whole result is validated again."""
    current_fields, current_prompts = _part_dicts(tool)
    new_name = tool.name if name is _UNSET else name
    new_status = tool.status if status is _UNSET else status
    fields, clean_prompts = _validated(
        owner=tool.owner, name=new_name, status=new_status,
        input_fields=current_fields if input_fields is _UNSET else input_fields,
        prompts=current_prompts if prompts is _UNSET else prompts,
    )
    tool.name = new_name.strip()
    tool.status = new_status
    if description is not _UNSET:
        tool.description = description or ""
    if workspace_id is not _UNSET:
        tool.workspace_id = _check_workspace(user=user, workspace_id=workspace_id)
    tool.save()
    if input_fields is not _UNSET or prompts is not _UNSET:
        _write_parts(tool, fields, clean_prompts)
    return Tool.objects.get(pk=tool.pk)


def tool_delete(*, tool: Tool) -> None:
    """Delete a tool; its executions stay (they keep the chain's snapshot)."""
    tool.delete()


@transaction.atomic
def tool_duplicate(*, user: User, tool: Tool) -> Tool:
    """A private draft copy of a tool the caller can see, owned by the caller."""
    fields, prompts = _part_dicts(tool)
    copy = Tool.objects.create(owner=user, name=f"{tool.name} (copy)"[:200], description=tool.description, status=ToolStatus.DRAFT)
    clean_prompts = [{**p, "model_id": src.model_id, "model_name": src.model_name}
                     for p, src in zip(prompts, tool.prompts.order_by("position", "order"), strict=True)]
    _write_parts(copy, fields, clean_prompts)
    return copy


# ------------------------------------------------------------------------------------------------
# Executions
# ------------------------------------------------------------------------------------------------

def _snapshot(tool: Tool) -> dict[str, Any]:
    return {
        "input_fields": [{"name": f.name, "label": f.label, "type": f.type, "required": f.required, "options": f.options}
                         for f in tool.input_fields.order_by("order", "name")],
        "prompts": [{"id": str(p.id), "name": p.name, "position": p.position, "model_name": p.model_name,
                     "system_prompt": p.system_prompt, "content": p.content} for p in tool.prompts.order_by("position", "order")],
    }


def _clean_inputs(fields: list[dict[str, Any]], inputs: Any) -> dict[str, Any]:
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, dict):
        raise ValidationError("`inputs` must be an object of field values.", details={"inputs": ["Must be an object."]})
    size = len(json.dumps(inputs, ensure_ascii=False, default=str).encode())
    if size > settings.ARCHITECT_MAX_INPUT_BYTES:
        raise InputsTooLarge(f"The inputs are {size} bytes; the limit is {settings.ARCHITECT_MAX_INPUT_BYTES}.",
                             details={"inputs": [f"At most {settings.ARCHITECT_MAX_INPUT_BYTES} bytes."]})
    if len(inputs) > settings.ARCHITECT_MAX_INPUT_FIELDS:
        raise ValidationError(f"At most {settings.ARCHITECT_MAX_INPUT_FIELDS} input fields.",
                              details={"inputs": [f"At most {settings.ARCHITECT_MAX_INPUT_FIELDS} fields."]})
    errors: dict[str, list[str]] = {}
    known = {f["name"]: f for f in fields}
    for name in inputs:
        if name not in known:
            errors[f"inputs.{name}"] = ["This tool has no such input field."]
    clean: dict[str, Any] = {}
    for name, field in known.items():
        value = inputs.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if field["required"]:
                errors[f"inputs.{name}"] = ["Required."]
            clean[name] = ""
            continue
        if field["type"] == FieldType.NUMBER:
            try:
                number = float(value) if not isinstance(value, bool) else None
            except (TypeError, ValueError):
                number = None
            if number is None:
                errors[f"inputs.{name}"] = ["Must be a number."]
                continue
            clean[name] = int(number) if number.is_integer() else number
        elif field["type"] == FieldType.SELECT:
            if str(value) not in field["options"]:
                errors[f"inputs.{name}"] = [f"Must be one of {', '.join(field['options'])}."]
                continue
            clean[name] = str(value)
        else:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                errors[f"inputs.{name}"] = ["Must be text."]
                continue
            clean[name] = str(value)
    if errors:
        first = next(iter(errors.items()))
        raise ValidationError(f"Invalid inputs: {first[0]}: {first[1][0]}", details=errors)
    return clean


def _minimum_cost(*, user: User, snapshot: dict[str, Any], inputs: dict[str, Any]) -> Decimal:
    """The least the chain can cost: every prompt's own text (earlier outputs unknown yet) and one output token each."""
    total = Decimal(0)
    for prompt in snapshot["prompts"]:
        entry = model_resolve_for_user(user=user, model=prompt["model_name"])
        text = render(prompt["content"], inputs=inputs, outputs={}, positional={}) + prompt["system_prompt"]
        total += (Decimal(estimate_tokens(text)) * entry.input_cost + entry.output_cost) / Decimal(1_000_000)
    return total


def _check_credits(*, user: User, minimum: Decimal) -> None:
    if not django_apps.is_installed("apps.billing"):
        return
    from apps.billing.selectors import balance_for
    from apps.core.errors import InsufficientCredits

    available = Decimal(str(balance_for(user=user)["available"]))
    if minimum > available:
        raise InsufficientCredits(
            f"This chain needs at least {minimum:.6f} credits; {max(available, Decimal(0)):f} are available.",
            details={"required": [f"{minimum:.6f}"], "available": [str(max(available, Decimal(0)))]},
        )


def execution_start(*, user: User, tool: Tool, inputs: Any, conversation_id: Any = None) -> Execution:
    """Check inputs, limits and credits; create the execution and queue it on the `llm` queue after commit."""
    if tool.status == ToolStatus.ARCHIVED:
        raise ToolNotRunnable("This tool is archived.")
    if tool.status != ToolStatus.PUBLISHED and tool.owner_id != user.pk:
        raise NotFound("Tool not found.")  # defensive: the selector already hides others' drafts
    snapshot = _snapshot(tool)
    if not snapshot["prompts"]:
        raise ToolNotRunnable("This tool has no prompts yet.")
    clean = _clean_inputs(snapshot["input_fields"], inputs)
    for prompt in snapshot["prompts"]:
        model_resolve_for_user(user=user, model=prompt["model_name"])  # the runner's tier, 403/404 before queueing
    if conversation_id:
        from apps.chat.selectors import conversation_get

        conversation_get(user=user, conversation_id=conversation_id)
    policy = tier_policy(user)
    hourly_quota_check(user=user, kind="architect_prompts", limit=policy.architect_prompts_per_hour)
    if running_count(user=user) >= policy.architect_concurrent:
        raise RateLimited(f"You already have {policy.architect_concurrent} execution(s) running; wait for one to finish.",
                          retry_after=5, details={"kind": ["architect"], "limit": [str(policy.architect_concurrent)]})
    _check_credits(user=user, minimum=_minimum_cost(user=user, snapshot=snapshot, inputs=clean))
    with transaction.atomic():
        execution = Execution.objects.create(
            tool=tool, owner=user, tool_name=tool.name, snapshot=snapshot, inputs=clean, conversation_id=conversation_id or None,
            total_prompts=len(snapshot["prompts"]),
            deadline_at=timezone.now() + timedelta(seconds=settings.ARCHITECT_EXECUTION_TIMEOUT_SECONDS),
        )
        hourly_quota_add(user=user, kind="architect_prompts", amount=len(snapshot["prompts"]))
        transaction.on_commit(lambda: execution_enqueue(execution_id=execution.pk))
    return execution


def execution_enqueue(*, execution_id: Any) -> None:
    """Send an execution to the workers."""
    from .tasks import execution_run

    execution_run.delay(str(execution_id))


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=2)


def execution_cancel(*, execution: Execution) -> str:
    """Stop an execution: a queued one ends now; a running one is stopped by its worker within the poll interval."""
    if execution.status in FINAL_STATUSES:
        raise ExecutionFinished()
    _redis().set(cancel_flag_key(execution.pk), "1", ex=settings.ARCHITECT_EXECUTION_TIMEOUT_SECONDS + 600)
    ended = Execution.objects.filter(pk=execution.pk, status=ExecutionStatus.PENDING).update(
        status=ExecutionStatus.CANCELLED, finished_at=timezone.now())
    if ended:
        publish(execution_stream_key(execution.pk), {"type": "execution_cancelled", "execution_id": str(execution.pk)}, final=True)
        return ExecutionStatus.CANCELLED
    return "cancelling"


def execution_fail(*, execution_id: Any, code: str, message: str, only_if: dict[str, Any] | None = None) -> bool:
    """End a non-final execution as failed (reaper, timeouts); publishes `execution_failed`. False if it had ended."""
    error = {"code": code, "message": message}
    filters = {"pk": execution_id, **(only_if or {})}
    updated = Execution.objects.filter(**filters).exclude(status__in=FINAL_STATUSES).update(
        status=ExecutionStatus.FAILED, error=error, finished_at=timezone.now())
    if updated:
        publish(execution_stream_key(execution_id), {"type": "execution_failed", "execution_id": str(execution_id), "error": error},
                final=True)
    return bool(updated)


def execution_reap_stale(*, now: Any = None) -> dict[str, int]:
    """Re-queue executions whose worker vanished (stale heartbeat), or fail them after the last attempt; fail overdue ones."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.ARCHITECT_STALE_SECONDS)
    counts = {"requeued": 0, "failed": 0, "timed_out": 0}
    overdue = Execution.objects.exclude(status__in=FINAL_STATUSES).filter(deadline_at__lt=stale_before)
    for execution_id in overdue.values_list("pk", flat=True):
        if execution_fail(execution_id=execution_id, code="EXECUTION_TIMEOUT",
                          message=f"The execution did not finish within {settings.ARCHITECT_EXECUTION_TIMEOUT_SECONDS} seconds."):
            counts["timed_out"] += 1
    stale = Execution.objects.filter(status=ExecutionStatus.RUNNING, heartbeat_at__lt=stale_before)
    for execution_id, attempts in stale.values_list("pk", "attempts"):
        if attempts < settings.ARCHITECT_MAX_ATTEMPTS:
            # Back to pending (only if still stale: the worker may have come back), then run again;
            # prompts that completed are skipped, so nothing is run or charged twice.
            if Execution.objects.filter(pk=execution_id, status=ExecutionStatus.RUNNING, heartbeat_at__lt=stale_before).update(
                    status=ExecutionStatus.PENDING, worker=""):
                execution_enqueue(execution_id=execution_id)
                counts["requeued"] += 1
        elif execution_fail(execution_id=execution_id, code="WORKER_LOST",
                            message="The worker running this execution stopped, and it was retried already.",
                            only_if={"status": ExecutionStatus.RUNNING, "heartbeat_at__lt": stale_before}):
            counts["failed"] += 1
    return counts


def new_request_id(execution_id: Any, prompt_id: Any) -> str:
    """The llm request id of one prompt of one execution (usage records are found by it)."""
    return f"architect.{execution_id}.{prompt_id}.{uuid.uuid4().hex[:8]}"
