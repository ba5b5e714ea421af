"""Assistant Architect writes: tools (validated on save), duplicates, starting and cancelling executions."""
from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.limits import hourly_quota_add, hourly_quota_check
from apps.accounts.policy import tier_policy
from apps.accounts.selectors import workspace_for_sharing
from apps.billing.metering import credits_require
from apps.core.errors import ApplicationError, NotFound, RateLimited, ValidationError
from apps.core.queues import enqueue
from apps.core.runs import cancel_request
from apps.core.streams import publish, streams_available
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
from .runner import stale_reap
from .selectors import execution_cancel_key, execution_stream_key, running_count

if TYPE_CHECKING:
    from apps.accounts.models import User

MAX_FIELDS = 50
MAX_PROMPTS = 50
MAX_CONTENT_CHARS = 100_000


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
                               workspace_id=workspace_for_sharing(user=user, workspace_id=workspace_id))
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
        tool.workspace_id = workspace_for_sharing(user=user, workspace_id=workspace_id)
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


def execution_minimum_cost(*, user: User, tool: Tool, inputs: Any) -> Decimal:
    """The least a run of `tool` with `inputs` can cost (a workflow's budget check before it starts one)."""
    snapshot = _snapshot(tool)
    return _minimum_cost(user=user, snapshot=snapshot, inputs=_clean_inputs(snapshot["input_fields"], inputs))


def execution_start(*, user: User, tool: Tool, inputs: Any, conversation_id: Any = None, queue: bool = True) -> Execution:
    """Check inputs, limits and credits; create the execution and queue it on the `llm` queue after commit.

    `queue=False` leaves it pending for the caller to run (`runner.execution_run`), as a workflow step does.
    """
    if tool.status == ToolStatus.ARCHIVED:
        raise ToolNotRunnable("This tool is archived.")
    if tool.status != ToolStatus.PUBLISHED and tool.owner_id != user.pk:
        raise NotFound("Tool not found.")  # defensive: the selector already hides others' drafts
    streams_available()  # the run is queued and streamed through Redis: 503 now, not a stuck execution
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
    credits_require(user=user, minimum=_minimum_cost(user=user, snapshot=snapshot, inputs=clean), what="This chain")
    with transaction.atomic():
        execution = Execution.objects.create(
            tool=tool, owner=user, tool_name=tool.name, snapshot=snapshot, inputs=clean, conversation_id=conversation_id or None,
            total_prompts=len(snapshot["prompts"]),
            deadline_at=timezone.now() + timedelta(seconds=settings.ARCHITECT_EXECUTION_TIMEOUT_SECONDS),
        )
        hourly_quota_add(user=user, kind="architect_prompts", amount=len(snapshot["prompts"]))
        if queue:
            transaction.on_commit(lambda: execution_enqueue(execution_id=execution.pk))
    return execution


def execution_enqueue(*, execution_id: Any) -> None:
    """Send an execution to the workers."""
    enqueue("apps.architect.tasks.execution_run", str(execution_id), on_commit=False)


def execution_cancel(*, execution: Execution) -> str:
    """Stop an execution: a queued one ends now; a running one is stopped by its worker within the poll interval."""
    if execution.status in FINAL_STATUSES:
        raise ExecutionFinished()
    cancel_request(execution_cancel_key(execution.pk), ttl=settings.ARCHITECT_EXECUTION_TIMEOUT_SECONDS + 600)
    ended = Execution.objects.filter(pk=execution.pk, status=ExecutionStatus.PENDING).update(
        status=ExecutionStatus.CANCELLED, finished_at=timezone.now())
    if ended:
        publish(execution_stream_key(execution.pk), {"type": "execution_cancelled", "execution_id": str(execution.pk)}, final=True)
        return ExecutionStatus.CANCELLED
    return "cancelling"


def execution_reap_stale() -> dict[str, int]:
    """Re-queue executions whose worker vanished (or fail them after the last attempt); fail overdue ones."""
    counts, requeue = stale_reap()
    for execution_id in requeue:
        execution_enqueue(execution_id=execution_id)
    return counts
