"""Agents writes: the registry, heartbeats, agent keys, tasks (submit, forward, reply, cancel, finish), ratings, trust.

Billing is an escrow on the ledger (`apps.billing.services`): submitting a task holds the agent's
`price_per_task` from the requester (402 when the balance cannot cover it); a completed task
releases the hold and moves the price from the requester (`spent`) to the agent's owner
(`earned`); a failed, cancelled or timed-out task releases it. The end of a task is one
conditional UPDATE (from a non-final status) in the same transaction as the money, with
idempotency keys per task on every ledger row: whichever of the worker, a cancel, or the reaper
ends a task first moves the money, and nothing moves twice, also when a worker dies mid-task.
"""
from __future__ import annotations

import logging
import re
import secrets
import uuid
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.postgres.search import SearchVector
from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from apps.accounts.selectors import workspace_for_sharing
from apps.billing.errors import InsufficientCredits
from apps.billing.models import CreditReservation
from apps.billing.selectors import balance_for
from apps.billing.services import credit_charge, credit_grant, credit_hold, credit_release
from apps.core.errors import Forbidden, ValidationError
from apps.core.outbound import OutboundUrlRefused, outbound_fetch, outbound_url_check
from apps.core.queues import enqueue
from apps.core.reaping import stuck_reap
from apps.core.runs import cancel_request, worker_id
from apps.core.streams import last_event_id, publish

from . import a2a_client
from .errors import AgentInvalid, AlreadyRated, TaskFinished
from .models import (
    FINAL_STATUSES,
    Agent,
    AgentApiKey,
    AgentStatus,
    Rating,
    SearchTerm,
    Skill,
    Task,
    TaskArtifact,
    TaskMessage,
    TaskStatus,
    TrustEvent,
    Visibility,
)
from .runner import TurnOutcome, turn_forward
from .selectors import AGENT_KEY_PREFIX, agent_key_hash, task_cancel_key, task_stream_key
from .trust import trust_components, trust_score_of

if TYPE_CHECKING:
    from apps.accounts.models import User

logger = logging.getLogger("nexus.agents")

MAX_SKILLS = 50
MAX_TAGS = 30
MAX_PRICE = Decimal("1000000")
CARD_MAX_BYTES = 256 * 1024
SEARCH_WORD = re.compile(r"[a-z0-9]+")


# ------------------------------------------------------------------------------
# Registry
# ------------------------------------------------------------------------------
def _clean_tags(raw: Any, key: str, errors: dict[str, list[str]]) -> list[str]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list) or not all(isinstance(t, str) and 0 < len(t.strip()) <= 64 for t in raw):
        errors.setdefault(key, []).append("A list of tags (strings of 1-64 characters).")
        return []
    if len(raw) > MAX_TAGS:
        errors.setdefault(key, []).append(f"At most {MAX_TAGS} tags.")
    return list(dict.fromkeys(t.strip().lower() for t in raw))[:MAX_TAGS]


def _clean_schema(raw: Any, key: str, errors: dict[str, list[str]]) -> dict[str, Any] | None:
    if raw in (None, {}):
        return raw or None
    if not isinstance(raw, dict):
        errors.setdefault(key, []).append("A JSON Schema (an object).")
        return None
    try:
        Draft202012Validator.check_schema(raw)
    except SchemaError as exc:
        errors.setdefault(key, []).append(f"Not a valid JSON Schema: {exc.message}")
        return None
    return raw


def _clean_skills(raw: Any, errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        errors.setdefault("skills", []).append("A list of skills.")
        return []
    if len(raw) > MAX_SKILLS:
        errors.setdefault("skills", []).append(f"At most {MAX_SKILLS} skills.")
        return []
    skills, seen = [], set()
    for index, item in enumerate(raw):
        key = f"skills[{index}]"
        if not isinstance(item, dict):
            errors.setdefault(key, []).append("A skill object.")
            continue
        skill_id = str(item.get("id") or "").strip()
        name = str(item.get("name") or "").strip() or skill_id
        if not skill_id or len(skill_id) > 100:
            errors.setdefault(f"{key}.id", []).append("Required, at most 100 characters.")
        elif skill_id in seen:
            errors.setdefault(f"{key}.id", []).append("Skill ids must be unique within an agent.")
        seen.add(skill_id)
        if len(name) > 200:
            errors.setdefault(f"{key}.name", []).append("At most 200 characters.")
        skills.append({
            "skill_id": skill_id, "name": name[:200], "description": str(item.get("description") or "")[:5000],
            "tags": _clean_tags(item.get("tags"), f"{key}.tags", errors),
            "input_schema": _clean_schema(item.get("input_schema"), f"{key}.input_schema", errors),
            "output_schema": _clean_schema(item.get("output_schema"), f"{key}.output_schema", errors),
            "order": index,
        })
    return skills


def _clean_price(raw: Any, errors: dict[str, list[str]]) -> Decimal:
    try:
        price = Decimal(str(raw if raw not in (None, "") else 0))
    except (InvalidOperation, ValueError):
        errors.setdefault("price_per_task", []).append("A number of credits.")
        return Decimal(0)
    if not price.is_finite() or price < 0 or price > MAX_PRICE:
        errors.setdefault("price_per_task", []).append(f"Between 0 and {MAX_PRICE} credits.")
        return Decimal(0)
    return price.quantize(Decimal("0.0001"))


def _clean(*, user: User, data: dict[str, Any], partial: bool) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """Checked agent fields (only those given when `partial`) and the skills (None: unchanged)."""
    errors: dict[str, list[str]] = {}
    fields: dict[str, Any] = {}
    if "name" in data or not partial:
        name = str(data.get("name") or "").strip()
        if not name or len(name) > 200:
            errors.setdefault("name", []).append("Required, at most 200 characters.")
        fields["name"] = name
    if "description" in data:
        fields["description"] = str(data.get("description") or "")[:20000]
    if "endpoint" in data or not partial:
        endpoint = str(data.get("endpoint") or "").strip()
        try:
            fields["endpoint"] = outbound_url_check(endpoint, field="endpoint")
        except OutboundUrlRefused as exc:
            for key, messages in (exc.details or {}).items():
                errors.setdefault(key, []).extend(messages)
        if len(endpoint) > 2000:
            errors.setdefault("endpoint", []).append("At most 2000 characters.")
    if "protocol_version" in data:
        if data["protocol_version"] not in ("0.3", "1.0"):
            errors.setdefault("protocol_version", []).append("0.3 or 1.0.")
        fields["protocol_version"] = data["protocol_version"]
    if "category" in data:
        fields["category"] = str(data.get("category") or "").strip().lower()[:64]
    if "tags" in data:
        fields["tags"] = _clean_tags(data.get("tags"), "tags", errors)
    if "metadata" in data:
        if not isinstance(data.get("metadata") or {}, dict):
            errors.setdefault("metadata", []).append("A JSON object.")
        fields["metadata"] = data.get("metadata") or {}
    if "price_per_task" in data:
        fields["price_per_task"] = _clean_price(data.get("price_per_task"), errors)
    if "visibility" in data:
        if data["visibility"] not in Visibility.values:
            errors.setdefault("visibility", []).append("public or private.")
        fields["visibility"] = data["visibility"]
    if "workspace_id" in data:
        try:
            fields["workspace_id"] = workspace_for_sharing(user=user, workspace_id=data.get("workspace_id"))
        except ValidationError as exc:
            for key, messages in (exc.details or {}).items():
                errors.setdefault(key, []).extend(messages)
    skills = _clean_skills(data.get("skills"), errors) if "skills" in data else None
    if errors:
        raise AgentInvalid(details=errors)
    return fields, skills


def skill_summary(skill: Skill) -> dict[str, Any]:
    """A skill as the API shows it."""
    return {"id": skill.skill_id, "name": skill.name, "description": skill.description, "tags": skill.tags,
            "input_schema": skill.input_schema, "output_schema": skill.output_schema}


def agent_search_refresh(*, agent: Agent) -> None:
    """Rebuild the agent's denormalised fields from its rows: skills as shown, skill tags, the full-text document."""
    skills = list(Skill.objects.filter(agent=agent).order_by("order", "skill_id"))  # never a stale prefetch
    tags = list(dict.fromkeys([*agent.tags, *(t for s in skills for t in s.tags)]))
    text = " ".join([agent.name, agent.description, agent.category, " ".join(agent.tags),
                     *(f"{s.name} {s.description} {' '.join(s.tags)}" for s in skills)])
    agent.skills_summary = [skill_summary(s) for s in skills]
    Agent.objects.filter(pk=agent.pk).update(skill_tags=tags, search_text=text[:100000], skills_summary=agent.skills_summary)
    search_terms_add(text=text)
    Agent.objects.filter(pk=agent.pk).update(
        search_vector=SearchVector("name", weight="A", config="english") + SearchVector("search_text", weight="B", config="english"))


def search_terms_add(*, text: str) -> None:
    """Add the words of an agent's text to the search vocabulary (words are never removed: a stale one matches nothing)."""
    words = {word for word in SEARCH_WORD.findall(text.lower()) if 3 <= len(word) <= 64}
    SearchTerm.objects.bulk_create([SearchTerm(word=word) for word in words], ignore_conflicts=True)


def _skills_replace(agent: Agent, skills: list[dict[str, Any]]) -> None:
    Skill.objects.filter(agent=agent).delete()
    Skill.objects.bulk_create([Skill(agent=agent, **skill) for skill in skills])


@transaction.atomic
def agent_create(*, user: User, data: dict[str, Any]) -> Agent:
    """Register an agent (endpoint checked by the outbound-URL rule; skills' JSON Schemas validated)."""
    fields, skills = _clean(user=user, data=data, partial=False)
    agent = Agent.objects.create(owner=user, **fields)
    _skills_replace(agent, skills or [])
    agent_search_refresh(agent=agent)
    trust_recompute(agent=agent, kind="registered")
    return agent


@transaction.atomic
def agent_update(*, user: User, agent: Agent, data: dict[str, Any]) -> Agent:
    """Change an agent (the caller was checked as a writer by the selector)."""
    fields, skills = _clean(user=user, data=data, partial=True)
    for name, value in fields.items():
        setattr(agent, name, value)
    agent.save()
    if skills is not None:
        _skills_replace(agent, skills)
    agent_search_refresh(agent=agent)
    return agent


@transaction.atomic
def agent_delete(*, agent: Agent) -> None:
    """Remove an agent; its open tasks end cancelled (their holds released) first."""
    for task_id in Task.objects.filter(agent=agent).exclude(status__in=FINAL_STATUSES).values_list("pk", flat=True):
        task_finish(task_id=task_id, status=TaskStatus.CANCELLED, error={"code": "AGENT_DELETED", "message": "The agent was removed."})
    agent.delete()


def agent_card_fetch(*, card_url: str) -> dict[str, Any]:
    """Read an A2A agent card from a URL (through the outbound-URL guard) as registry fields."""
    outbound_url_check(card_url, field="card_url")
    try:
        # truncate: a longer card is refused below, after reading no more than the cap
        response = async_to_sync(outbound_fetch)("GET", card_url, field="card_url", headers={"Accept": "application/json"},
                                                 timeout=10.0, max_bytes=CARD_MAX_BYTES, max_redirects=3, truncate=True)
    except OutboundUrlRefused:
        raise
    except Exception as exc:
        raise ValidationError("The agent card could not be fetched.", details={"card_url": [str(exc)[:300]]}) from exc
    if response.status != 200 or response.truncated:
        raise ValidationError("The agent card could not be fetched.", details={"card_url": [f"HTTP {response.status}."]})
    try:
        return a2a_client.card_parse(response.content)
    except a2a_client.AgentCallFailed as exc:
        raise ValidationError(exc.message, details={"card_url": [exc.message]}) from exc


def agent_import(*, user: User, card_url: str, data: dict[str, Any]) -> Agent:
    """Register an agent from its A2A agent card; fields in `data` override the card's."""
    card = agent_card_fetch(card_url=card_url)
    return agent_create(user=user, data={**card, **{k: v for k, v in data.items() if k != "card_url"}})


def agent_heartbeat(*, agent: Agent, status: str | None = None, metadata: dict[str, Any] | None = None) -> Agent:
    """Record a beat: the agent is online (or the status it reports), its metadata merged."""
    status = status or AgentStatus.ONLINE
    if status not in AgentStatus.values:
        raise ValidationError("Unknown status.", details={"status": ["online, offline or degraded."]})
    agent.status = status
    agent.last_heartbeat_at = timezone.now()
    update = ["status", "last_heartbeat_at", "updated_at"]
    if metadata:
        agent.metadata = {**agent.metadata, **metadata}
        update.append("metadata")
    agent.save(update_fields=update)
    return agent


def agents_sweep_offline(*, now: Any = None) -> int:
    """Mark agents offline whose last heartbeat is older than AGENTS_HEARTBEAT_OFFLINE_SECONDS."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.AGENTS_HEARTBEAT_OFFLINE_SECONDS)
    return Agent.objects.exclude(status=AgentStatus.OFFLINE).filter(
        Q(last_heartbeat_at__lt=cutoff) | Q(last_heartbeat_at__isnull=True)).update(status=AgentStatus.OFFLINE)


def agent_key_create(*, agent: Agent, name: str) -> tuple[AgentApiKey, str]:
    """A new key for one agent; returns it with the full secret, which is shown once and never stored."""
    raw = AGENT_KEY_PREFIX + secrets.token_urlsafe(32)
    key = AgentApiKey.objects.create(agent=agent, name=(name or "agent key")[:100], prefix=raw[:12], digest=agent_key_hash(raw))
    return key, raw


def agent_key_revoke(*, key: AgentApiKey) -> None:
    """Revoke an agent key (it stops working at once)."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])


# ------------------------------------------------------------------------------
# Tasks
# ------------------------------------------------------------------------------
def _hold_key(task_id: Any) -> str:
    return f"agent-task-hold:{task_id}"


def _event(task_id: Any, data: dict[str, Any], *, final: bool = False) -> None:
    try:
        publish(task_stream_key(task_id), data, final=final)
    except Exception:  # the task's rows are the truth; a reader reconnecting reads them
        logger.warning("Could not publish an event of task %s", task_id)


def _event_after_commit(task_id: Any, data: dict[str, Any], *, final: bool = False) -> None:
    transaction.on_commit(lambda: _event(task_id, data, final=final))


def _first_parts(*, description: str, title: str, input: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"kind": "text", "text": description or title}]
    if input not in (None, {}, [], ""):
        parts.append({"kind": "data", "data": input})
    return parts


def task_submit(*, user: User, agent: Agent, title: str = "", description: str = "", input: Any = None,
                timeout_seconds: int | None = None, forward: bool = True) -> Task:
    """Create a task, hold the agent's price from the requester (402), and queue its forwarding (202).

    `forward=False` leaves it submitted for the caller to forward (`task_forward`), as a workflow step does.
    """
    timeout = timeout_seconds or settings.AGENTS_TASK_DEFAULT_TIMEOUT_SECONDS
    if timeout < 1 or timeout > settings.AGENTS_TASK_MAX_TIMEOUT_SECONDS:
        raise ValidationError("Bad timeout.", details={"timeout_seconds": [f"Between 1 and {settings.AGENTS_TASK_MAX_TIMEOUT_SECONDS}."]})
    if not (description or title):
        raise ValidationError("Say what the agent should do.", details={"description": ["A title or a description is required."]})
    task_id = uuid.uuid4()
    price = agent.price_per_task
    with transaction.atomic():
        if price > 0:
            credit_hold(account_or_user=user, amount=price, reference=f"agent-task:{task_id}", idempotency_key=_hold_key(task_id),
                        model_name=f"agent:{agent.name}"[:100])
        task = Task.objects.create(id=task_id, requester=user, agent=agent, title=title[:200], description=description,
                                   input=input if input is not None else {}, timeout_seconds=timeout, price=price)
        TaskMessage.objects.create(task=task, role="user", turn=1, parts=_first_parts(description=description, title=title, input=input))
        _event_after_commit(task.pk, {"type": "status", "status": TaskStatus.SUBMITTED})
        if forward:
            enqueue("apps.agents.tasks.task_forward", str(task.pk))
    return task


def task_forward(*, task_id: Any) -> str:
    """Claim the task and forward its pending turn to the agent; applies what came back. Returns the new status."""
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.AGENTS_TASK_STALE_SECONDS)
    worker = worker_id()
    current = Task.objects.filter(pk=task_id).values("deadline_at", "timeout_seconds").first()
    if current is None:
        return "skipped"
    # The turn's deadline is set by its first run; a re-run after a dead worker keeps it.
    deadline = current["deadline_at"] or now + timedelta(seconds=current["timeout_seconds"])
    claimed = Task.objects.filter(pk=task_id).filter(
        Q(status=TaskStatus.SUBMITTED) | Q(status=TaskStatus.WORKING, heartbeat_at__lt=stale_before)).update(
        status=TaskStatus.WORKING, worker=worker, heartbeat_at=now, attempts=F("attempts") + 1,
        started_at=Coalesce(F("started_at"), Value(now, output_field=DateTimeField())), deadline_at=deadline, updated_at=now)
    if not claimed:
        return "skipped"
    task = Task.objects.select_related("agent").get(pk=task_id)
    _event(task.pk, {"type": "status", "status": TaskStatus.WORKING})
    outcome = turn_forward(task=task)
    if outcome.status == "lost":
        return "lost"  # re-queued or failed by the reaper meanwhile: its run decides
    return task_outcome_apply(task_id=task.pk, outcome=outcome, worker=worker)


@transaction.atomic
def task_outcome_apply(*, task_id: Any, outcome: TurnOutcome, worker: str = "") -> str:
    """Store a turn's messages and artifacts, then move the task on (input-required) or end it with its money."""
    task = Task.objects.select_for_update().get(pk=task_id)
    if task.status != TaskStatus.WORKING or (worker and task.worker != worker):
        return task.status  # cancelled, reaped, or re-claimed meanwhile: not ours to write
    if outcome.remote_task_id and not task.remote_task_id:
        task.remote_task_id = outcome.remote_task_id[:200]
        task.save(update_fields=["remote_task_id", "updated_at"])
    for message in outcome.messages:
        stored = TaskMessage.objects.create(task=task, role="agent", parts=message["parts"], turn=task.turn)
        _event_after_commit(task.pk, {"type": "message", "message": {"id": str(stored.pk), "role": "agent", "parts": stored.parts}})
    for artifact in outcome.artifacts:
        stored_artifact, created = TaskArtifact.objects.update_or_create(
            task=task, artifact_id=artifact["artifact_id"][:200], defaults={"name": artifact.get("name", "")[:200], "parts": artifact["parts"]})
        _event_after_commit(task.pk, {"type": "artifact", "artifact": {"artifact_id": stored_artifact.artifact_id,
                                                                          "name": stored_artifact.name, "parts": stored_artifact.parts}})
    if outcome.status == TaskStatus.INPUT_REQUIRED:
        Task.objects.filter(pk=task.pk).update(status=TaskStatus.INPUT_REQUIRED, worker="", heartbeat_at=timezone.now())
        _event_after_commit(task.pk, {"type": "status", "status": TaskStatus.INPUT_REQUIRED})
        return TaskStatus.INPUT_REQUIRED
    status = outcome.status if outcome.status in FINAL_STATUSES else TaskStatus.FAILED
    error = outcome.error if status != TaskStatus.COMPLETED else None
    if outcome.status not in FINAL_STATUSES:
        error = {"code": "AGENT_BAD_ANSWER", "message": f"The agent answered the state {outcome.status!r}."}
    task_finish(task_id=task.pk, status=status, error=error)
    return status


def _money_move(task: Task, status: str) -> None:
    """Release the hold; on completion move the price from the requester (spent) to the agent's owner (earned)."""
    if task.price <= 0:
        return
    reservation = CreditReservation.objects.filter(idempotency_key=_hold_key(task.pk)).first()
    if reservation is not None:
        credit_release(reservation=reservation)
    if status != TaskStatus.COMPLETED:
        return
    amount = task.price
    try:
        with transaction.atomic():
            credit_charge(account_or_user=task.requester, amount=amount, type="spent", reference=f"agent-task:{task.pk}",
                          idempotency_key=f"agent-task-spent:{task.pk}", model_name=f"agent:{task.agent.name}"[:100])
    except InsufficientCredits:
        # Only when the hold had expired (a very long task) and the credits went elsewhere: take what is left.
        amount = min(amount, max(Decimal(balance_for(user=task.requester)["available"]), Decimal(0)))
        if amount <= 0:
            logger.warning("Task %s: the requester could not pay the agent", task.pk)
            return
        credit_charge(account_or_user=task.requester, amount=amount, type="spent", reference=f"agent-task:{task.pk}",
                      idempotency_key=f"agent-task-spent:{task.pk}", model_name=f"agent:{task.agent.name}"[:100])
    credit_grant(account_or_user=task.agent.owner, amount=amount, type="earned", reference=f"agent-task:{task.pk}",
                 idempotency_key=f"agent-task-earned:{task.pk}", metadata={"task_id": str(task.pk), "agent_id": str(task.agent_id)})


@transaction.atomic
def task_finish(*, task_id: Any, status: str, error: dict[str, Any] | None = None, only_if: dict[str, Any] | None = None) -> bool:
    """End a task once (from any non-final status), move its money, recompute trust; False when it had ended already."""
    now = timezone.now()
    ended = Task.objects.filter(pk=task_id).exclude(status__in=FINAL_STATUSES).filter(**(only_if or {})).update(
        status=status, error=error, finished_at=now, worker="", updated_at=now)
    if not ended:
        return False
    task = Task.objects.select_related("agent", "agent__owner", "requester").get(pk=task_id)
    _money_move(task, status)
    if status != TaskStatus.CANCELLED:
        trust_recompute(agent=task.agent, kind=f"task_{status}", task=task)
    _event_after_commit(task.pk, {"type": "status", "status": status, **({"error": error} if error else {})})
    _event_after_commit(task.pk, {"type": "complete", "status": status, **({"error": error} if error else {})}, final=True)
    return True


def task_stream_restore(*, task: Task) -> None:
    """Give an ended task whose event stream expired (STREAM_TTL_SECONDS) its last two events again, so a reader ends."""
    if not task.is_final or last_event_id(task_stream_key(task.pk)) > 0:
        return
    extra = {"error": task.error} if task.error else {}
    _event(task.pk, {"type": "status", "status": task.status, **extra})
    _event(task.pk, {"type": "complete", "status": task.status, **extra}, final=True)


def task_reply(*, task: Task, parts: list[dict[str, Any]]) -> Task:
    """The requester answers an input-required task: the message is stored and forwarded as the next turn."""
    with transaction.atomic():
        current = Task.objects.select_for_update().get(pk=task.pk)
        if current.status != TaskStatus.INPUT_REQUIRED:
            raise TaskFinished("Only a task waiting for input (input-required) takes a reply.")
        turn = current.turn + 1
        Task.objects.filter(pk=task.pk).update(status=TaskStatus.SUBMITTED, turn=turn, deadline_at=None, attempts=0, updated_at=timezone.now())
        stored = TaskMessage.objects.create(task=current, role="user", parts=parts, turn=turn)
        _event_after_commit(task.pk, {"type": "message", "message": {"id": str(stored.pk), "role": "user", "parts": parts}})
        _event_after_commit(task.pk, {"type": "status", "status": TaskStatus.SUBMITTED})
        enqueue("apps.agents.tasks.task_forward", str(task.pk))
    task.refresh_from_db()
    return task


def task_agent_report(*, task: Task, parts: list[dict[str, Any]], artifacts: list[dict[str, Any]], status: str | None) -> Task:
    """The agent, with its own key, adds messages and artifacts to a task it was given and may move it on
    (for agents that work after answering `working`): completed or failed end the task with its money."""
    with transaction.atomic():
        current = Task.objects.select_for_update().get(pk=task.pk)
        if current.is_final:
            raise TaskFinished("The task has ended already.")
        if parts:
            stored = TaskMessage.objects.create(task=current, role="agent", parts=parts, turn=current.turn)
            _event_after_commit(task.pk, {"type": "message", "message": {"id": str(stored.pk), "role": "agent", "parts": parts}})
        for artifact in artifacts:
            kept, _ = TaskArtifact.objects.update_or_create(task=current, artifact_id=artifact["artifact_id"][:200],
                                                            defaults={"name": artifact["name"][:200], "parts": artifact["parts"]})
            _event_after_commit(task.pk, {"type": "artifact", "artifact": {"artifact_id": kept.artifact_id, "name": kept.name, "parts": kept.parts}})
        if status in (TaskStatus.COMPLETED, TaskStatus.FAILED):
            error = {"code": "AGENT_FAILED", "message": "The agent reported a failure."} if status == TaskStatus.FAILED else None
            task_finish(task_id=task.pk, status=status, error=error)
        elif status == TaskStatus.INPUT_REQUIRED and current.status != TaskStatus.INPUT_REQUIRED:
            Task.objects.filter(pk=task.pk).update(status=TaskStatus.INPUT_REQUIRED, worker="", heartbeat_at=timezone.now())
            _event_after_commit(task.pk, {"type": "status", "status": TaskStatus.INPUT_REQUIRED})
    task.refresh_from_db()
    return task


def task_cancel(*, task: Task) -> Task:
    """Cancel a task that has not ended: its hold is released at once and the agent is told (`tasks/cancel`)."""
    if not task_finish(task_id=task.pk, status=TaskStatus.CANCELLED):
        raise TaskFinished("The task has ended already.")
    cancel_request(task_cancel_key(task.pk))  # a worker forwarding it stops within the poll interval
    task.refresh_from_db()
    if task.remote_task_id:
        enqueue("apps.agents.tasks.task_cancel_forward", str(task.pk))
    return task


def task_cancel_forward(*, task_id: Any) -> bool:
    """Tell the agent a task was cancelled (best effort)."""
    task = Task.objects.select_related("agent").get(pk=task_id)
    if not task.remote_task_id:
        return False
    return async_to_sync(a2a_client.task_cancel)(endpoint=task.agent.endpoint, protocol_version=task.agent.protocol_version,
                                                  remote_task_id=task.remote_task_id)


def task_reap_stale(*, now: Any = None) -> dict[str, int]:
    """Time out overdue tasks; put tasks whose worker died back on the queue (or fail them after the last attempt).

    Each end goes through `task_finish`, so the money of a task moves once whoever ends it.
    """
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.AGENTS_TASK_STALE_SECONDS)
    counts = {"requeued": 0, "failed": 0, "timed_out": 0}
    overdue = Task.objects.filter(status=TaskStatus.WORKING, deadline_at__lt=now - timedelta(seconds=settings.AGENTS_TASK_STALE_SECONDS))
    for task_id, timeout in overdue.values_list("pk", "timeout_seconds"):
        if task_finish(task_id=task_id, status=TaskStatus.TIMED_OUT, error={"code": "TASK_TIMEOUT",
                       "message": f"The agent did not answer within {timeout} seconds."}, only_if={"status": TaskStatus.WORKING}):
            counts["timed_out"] += 1
    waiting = Task.objects.filter(status=TaskStatus.INPUT_REQUIRED,
                                  heartbeat_at__lt=now - timedelta(seconds=settings.AGENTS_INPUT_REQUIRED_TTL_SECONDS))
    for task_id in waiting.values_list("pk", flat=True):
        if task_finish(task_id=task_id, status=TaskStatus.TIMED_OUT, error={"code": "INPUT_TIMEOUT",
                       "message": "No reply came while the task waited for input."}, only_if={"status": TaskStatus.INPUT_REQUIRED}):
            counts["timed_out"] += 1
    def forward(row: Any) -> None:
        enqueue("apps.agents.tasks.task_forward", str(row.pk), on_commit=False)

    def give_up(row: Any) -> bool:
        return task_finish(task_id=row.pk, status=TaskStatus.FAILED, error={"code": "WORKER_LOST",
                           "message": "The worker forwarding this task stopped, and it was retried already."},
                           only_if={"status": TaskStatus.WORKING, "heartbeat_at__lt": stale_before})

    # Submitted but never claimed for a while: the message went down with a killed worker that had prefetched it.
    lost = stuck_reap(Task.objects.filter(status=TaskStatus.SUBMITTED, updated_at__lt=stale_before),
                      put_back={"updated_at": now}, requeue=forward)
    # Working with a stale heartbeat: its worker died. Back to submitted, or failed after the last attempt.
    stale = stuck_reap(Task.objects.filter(status=TaskStatus.WORKING, heartbeat_at__lt=stale_before),
                       put_back={"status": TaskStatus.SUBMITTED, "worker": "", "updated_at": now}, requeue=forward,
                       max_attempts=settings.AGENTS_TASK_MAX_ATTEMPTS, give_up=give_up)
    counts["requeued"] += lost.requeued + stale.requeued
    counts["failed"] += stale.failed
    return counts


# ------------------------------------------------------------------------------
# Trust
# ------------------------------------------------------------------------------
def trust_recompute(*, agent: Agent, kind: str, task: Task | None = None, detail: dict[str, Any] | None = None) -> TrustEvent:
    """Recompute the agent's trust score, store it on the agent and record the event that moved it."""
    components = trust_components(agent=agent)
    score = trust_score_of(components)
    Agent.objects.filter(pk=agent.pk).update(trust_score=score)
    agent.trust_score = score
    return TrustEvent.objects.create(agent=agent, kind=kind, task=task, score=score, components=components, detail=detail or {})


def rating_create(*, user: User, task: Task, rating: int, comment: str = "") -> Rating:
    """The requester rates a finished task of the agent, once (409 on a second try); trust is recomputed."""
    if task.requester_id != user.pk:
        raise Forbidden("Only the task's requester can rate it.")
    if not task.is_final:
        raise TaskFinished("A task can be rated once it has ended.")
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ValidationError("Bad rating.", details={"rating": ["An integer from 1 to 5."]})
    try:
        with transaction.atomic():
            stored = Rating.objects.create(task=task, agent=task.agent, rater=user, rating=rating, comment=comment[:5000])
            trust_recompute(agent=task.agent, kind="rated", task=task, detail={"rating": rating})
    except IntegrityError:
        raise AlreadyRated() from None
    return stored
