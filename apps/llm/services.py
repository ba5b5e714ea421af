"""Writes of the llm app: provider connections, the model registry, usage records, env providers."""
from __future__ import annotations

import functools
import logging
import re
import uuid
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.core.db import server_bound_cursor
from apps.core.errors import Conflict, ValidationError

from .crypto import decrypt_secret, encrypt_secret, rotate_secret
from .models import LlmModel, ProviderConnection, ProviderKind, ProviderSource, UsageRecord
from .providers import provider_for
from .providers.base import ProviderSettings, Usage
from .selectors import registry_changed

logger = logging.getLogger("nexus.llm")

MILLION = Decimal(1_000_000)
COST_QUANTUM = Decimal("0.000001")


def _after_commit_registry_changed() -> None:
    transaction.on_commit(registry_changed)


def _check_base_url(base_url: str) -> str:
    base_url = (base_url or "").strip()
    if base_url and not re.match(r"^https?://[^\s/]+", base_url):
        raise ValidationError("`base_url` must be an http(s) URL.", details={"base_url": ["Must be an http(s) URL."]})
    return base_url.rstrip("/")


@transaction.atomic
def provider_create(*, name: str, kind: str, base_url: str = "", api_key: str = "", timeout_seconds: float | None = None,
                    active: bool = True, source: str = ProviderSource.ADMIN) -> ProviderConnection:
    """A new provider connection; the key is stored encrypted and never returned."""
    if ProviderConnection.objects.filter(name=name).exists():
        raise Conflict(f"A provider named '{name}' already exists.", details={"name": ["Already exists."]})
    provider = ProviderConnection(
        name=name, kind=kind, base_url=_check_base_url(base_url), active=active, source=source,
        timeout_seconds=timeout_seconds or settings.LLM_DEFAULT_TIMEOUT,
        api_key_encrypted=encrypt_secret(api_key) if api_key else "",
    )
    provider.full_clean()
    provider.save()
    if provider.is_usable:
        _activate_seeded_models(provider)
    _after_commit_registry_changed()
    return provider


@transaction.atomic
def provider_update(*, provider: ProviderConnection, **changes: Any) -> ProviderConnection:
    """Change a connection; `api_key=""` removes the key, an absent `api_key` keeps it."""
    if "api_key" in changes:
        key = changes.pop("api_key")
        provider.api_key_encrypted = encrypt_secret(key) if key else ""
    if "base_url" in changes:
        changes["base_url"] = _check_base_url(changes["base_url"])
    for field, value in changes.items():
        setattr(provider, field, value)
    provider.full_clean()
    provider.save()
    if provider.is_usable:
        _activate_seeded_models(provider)
    _after_commit_registry_changed()
    return provider


@transaction.atomic
def provider_delete(*, provider: ProviderConnection) -> None:
    """Remove a connection and the models it serves (usage records keep their names)."""
    provider.models.all().delete()
    provider.delete()
    _after_commit_registry_changed()


def _activate_seeded_models(provider: ProviderConnection) -> None:
    # The shipped catalogue waits for its provider's key; an admin's own deactivations are kept
    # because only models never touched since seeding (`seeded`) are switched on.
    provider.models.filter(seeded=True, active=False).update(active=True)


def provider_settings(provider: ProviderConnection) -> ProviderSettings:
    """The in-memory settings (decrypted key) an adapter needs."""
    api_key = decrypt_secret(provider.api_key_encrypted) if provider.api_key_encrypted else ""
    return ProviderSettings(name=provider.name, kind=provider.kind, base_url=provider.base_url, api_key=api_key,
                            timeout=provider.timeout_seconds)


def provider_test(*, provider: ProviderConnection) -> dict[str, Any]:
    """Call the provider's model list; record and return the outcome (`ok`, `models` or `error`)."""
    adapter = provider_for(provider_settings(provider))
    try:
        models = async_to_sync(adapter.list_models)()
        result: dict[str, Any] = {"ok": True, "models": models, "error": None}
    except Exception as exc:  # every adapter error is already one of ours; report it, do not raise
        result = {"ok": False, "models": [], "error": str(getattr(exc, "message", exc))[:500]}
    ProviderConnection.objects.filter(pk=provider.pk).update(
        last_checked_at=timezone.now(), last_check_ok=result["ok"], last_check_error=result["error"] or ""
    )
    return result


def provider_keys_rotate() -> int:
    """Re-encrypt every stored provider key under the newest LLM_ENCRYPTION_KEYS key; returns how many."""
    count = 0
    with transaction.atomic():
        for provider in ProviderConnection.objects.select_for_update().exclude(api_key_encrypted=""):
            provider.api_key_encrypted = rotate_secret(provider.api_key_encrypted)
            provider.save(update_fields=["api_key_encrypted", "updated_at"])
            count += 1
    registry_changed()
    return count


MODEL_FIELDS = ("name", "provider", "provider_model", "capabilities", "input_cost", "output_cost", "audio_cost_per_minute", "context_window",
                "max_output_tokens", "tiers", "active")


@transaction.atomic
def model_create(*, name: str, provider: ProviderConnection, provider_model: str, **fields: Any) -> LlmModel:
    """Register a model under a unique slug."""
    if LlmModel.objects.filter(name=name).exists():
        raise Conflict(f"A model named '{name}' already exists.", details={"name": ["Already exists."]})
    model = LlmModel(name=name, provider=provider, provider_model=provider_model, **fields)
    model.full_clean()
    model.save()
    _after_commit_registry_changed()
    return model


@transaction.atomic
def model_update(*, model: LlmModel, **changes: Any) -> LlmModel:
    """Change a registered model; it stops being a seed so later seeding never overrides the admin."""
    if "name" in changes and changes["name"] != model.name and LlmModel.objects.filter(name=changes["name"]).exists():
        raise Conflict(f"A model named '{changes['name']}' already exists.", details={"name": ["Already exists."]})
    for field, value in changes.items():
        setattr(model, field, value)
    model.seeded = False
    model.full_clean()
    model.save()
    _after_commit_registry_changed()
    return model


@transaction.atomic
def model_delete(*, model: LlmModel) -> None:
    """Remove a model from the registry (its usage records keep the name)."""
    model.delete()
    _after_commit_registry_changed()


def usage_cost(*, usage: Usage, input_cost: Decimal, output_cost: Decimal) -> Decimal:
    """Credits for `usage` at prices in credits per 1M tokens."""
    raw = (Decimal(usage.prompt_tokens) * input_cost + Decimal(usage.completion_tokens) * output_cost) / MILLION
    return raw.quantize(COST_QUANTUM)


def usage_record_create(*, record_id: uuid.UUID | None = None, user_id: Any, api_key_id: Any, workspace_id: Any, model_id: Any,
                        model_name: str, provider_name: str, usage: Usage, status: str, latency_ms: int, ttft_ms: int | None,
                        streamed: bool, origin: str, request_id: str, error_code: str = "", error_message: str = "") -> UsageRecord:
    """Write the one usage record of a call (a single INSERT, so no transaction is needed).

    Written with the fixed INSERT of `_usage_insert_many` rather than `objects.create`: one record
    per model call, and the ORM's compile of it was an eighth of a gateway call's CPU.
    """
    values = _usage_values(
        record_id=record_id, user_id=user_id, api_key_id=api_key_id, workspace_id=workspace_id, model_id=model_id, model_name=model_name,
        provider_name=provider_name, usage=usage, status=status, latency_ms=latency_ms, ttft_ms=ttft_ms, streamed=streamed, origin=origin,
        request_id=request_id, error_code=error_code, error_message=error_message,
    )
    _usage_insert_many([values])
    record = UsageRecord(**values)
    record._state.adding, record._state.db = False, connection.alias
    return record


def usage_records_create(rows: list[dict[str, Any]]) -> None:
    """Write many calls' usage records (each the keyword arguments of `usage_record_create`) in one INSERT.

    The gateway's records are queued behind its answers (`core.writebehind.Row`): the dozens of
    calls of one batch cost one round trip and one statement instead of one each.
    """
    _usage_insert_many([_usage_values(**row) for row in rows])


def _usage_values(*, record_id: uuid.UUID | None = None, user_id: Any, api_key_id: Any, workspace_id: Any, model_id: Any,
                  model_name: str, provider_name: str, usage: Usage, status: str, latency_ms: int, ttft_ms: int | None,
                  streamed: bool, origin: str, request_id: str, error_code: str = "", error_message: str = "") -> dict[str, Any]:
    """A usage record's column values by attribute name, clamped and cut to the columns' sizes."""
    return {
        "id": record_id or uuid.uuid4(), "user_id": user_id, "api_key_id": api_key_id, "workspace_id": workspace_id, "model_id": model_id,
        "model_name": model_name[:100], "provider_name": provider_name[:64], "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens, "reasoning_tokens": usage.reasoning_tokens, "total_tokens": usage.total_tokens,
        "cost": usage.cost or Decimal(0), "usage_source": usage.source, "status": status, "latency_ms": max(0, latency_ms),
        "ttft_ms": ttft_ms, "streamed": streamed, "origin": origin[:32], "request_id": (request_id or "")[:128],
        "error_code": error_code[:32], "error_message": error_message[:500], "created_at": timezone.now(),
    }


def _usage_insert_many(records: list[dict[str, Any]]) -> None:
    """One INSERT of every record, its columns passed as one array each (`unnest`).

    The statement's text is the same for any number of rows: psycopg parses it once per process
    (a multi-row VALUES list was a new text each batch, scanned for its placeholders each time),
    and 22 parameters never come near PostgreSQL's limit of 65 535, so no batch is cut in pieces.
    """
    attnames, sql = _usage_insert()
    # Every array goes as text and is cast by PostgreSQL: ids may come as UUIDs or as their text.
    columns = [[None if record[name] is None else str(record[name]) for record in records] for name in attnames]
    with server_bound_cursor() as cursor:
        cursor.execute(sql, columns)


@functools.cache
def _usage_insert() -> tuple[list[str], str]:
    """The usage record's column attribute names and its INSERT from one array per column (built once per process)."""
    fields = list(UsageRecord._meta.concrete_fields)
    columns = ", ".join(connection.ops.quote_name(str(field.column)) for field in fields)
    arrays = ", ".join(f"%s::text[]::{field.db_type(connection)}[]" for field in fields)
    table = connection.ops.quote_name(UsageRecord._meta.db_table)
    return [str(field.attname) for field in fields], f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays})"


ENV_PROVIDERS = (
    # (connection name, kind, key setting, base URL setting)
    ("openai", ProviderKind.OPENAI, "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    ("anthropic", ProviderKind.ANTHROPIC, "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
    ("gemini", ProviderKind.GEMINI, "GEMINI_API_KEY", "GEMINI_BASE_URL"),
)


def providers_sync_from_env(*, discover: bool = True) -> list[str]:
    """Configure the connections named in the environment (OPENAI_API_KEY, ...); returns their names.

    An OpenAI-compatible base URL that is not OpenAI's (Ollama, llama.cpp, vLLM) gets its own
    models registered from its `/models` list, free of charge and open to every tier, so a new
    install can chat with a local server at once.
    """
    configured: list[str] = []
    for name, kind, key_setting, url_setting in ENV_PROVIDERS:
        api_key = getattr(settings, key_setting, "") or ""
        base_url = getattr(settings, url_setting, "") or ""
        if not api_key and not base_url:
            continue
        provider = ProviderConnection.objects.filter(name=name).first()
        if provider is None:
            provider = provider_create(name=name, kind=kind, base_url=base_url, api_key=api_key, source=ProviderSource.ENV)
        else:
            changes: dict[str, Any] = {"base_url": base_url, "active": True, "source": ProviderSource.ENV}
            if api_key and (not provider.api_key_encrypted or decrypt_secret(provider.api_key_encrypted) != api_key):
                changes["api_key"] = api_key
            provider = provider_update(provider=provider, **changes)
        configured.append(name)
        if discover and kind == ProviderKind.OPENAI and base_url and "api.openai.com" not in base_url:
            _discover_models(provider)
    return configured


def _discover_models(provider: ProviderConnection) -> None:
    result = provider_test(provider=provider)
    if not result["ok"]:
        logger.warning("Could not list the models of %s: %s", provider.name, result["error"])
        return
    for provider_model in result["models"]:
        slug = re.sub(r"[^a-z0-9-]+", "-", f"{provider.name}-{provider_model}".lower()).strip("-")[:100]
        if not LlmModel.objects.filter(name=slug).exists():
            model_create(name=slug, provider=provider, provider_model=provider_model, capabilities=["chat", "streaming"])
