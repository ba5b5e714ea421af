"""The llm admin API, /models, /metrics, health, encryption at rest, the catalogue seed and env providers."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.llm import seeds, services
from apps.llm.crypto import decrypt_secret
from apps.llm.health import check_providers
from apps.llm.models import LlmModel, ProviderConnection
from apps.llm.providers.base import Usage
from apps.llm.selectors import registry
from tests.factories import AdminUserFactory, UserFactory

from .conftest import FAKE_KEY, base_url_for, make_fake_models

SECRET = "sk-live-very-secret-key-0123456789"


@pytest.fixture
def admin_client(db: Any) -> APIClient:
    """A client signed in as an admin."""
    client = APIClient()
    client.force_authenticate(user=AdminUserFactory())
    return client


def _key_client(user: Any, scopes: list[str]) -> APIClient:
    _key, raw = account_services.api_key_create(user=user, name="t", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_provider_key_is_write_only_and_encrypted(admin_client: APIClient) -> None:
    response = admin_client.post("/api/v1/admin/providers", {"name": "openai-main", "kind": "openai", "api_key": SECRET,
                                                            "base_url": "https://api.openai.com/v1"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["api_key_set"] is True and "api_key" not in body and SECRET not in response.content.decode()
    listed = admin_client.get("/api/v1/admin/providers")
    detail = admin_client.get(f"/api/v1/admin/providers/{body['id']}")
    assert SECRET not in listed.content.decode() and SECRET not in detail.content.decode()
    # Not in the database in clear, and readable with the configured key.
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key_encrypted FROM llm_providerconnection WHERE name = %s", ["openai-main"])
        (stored,) = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM llm_providerconnection WHERE CAST(llm_providerconnection.* AS text) LIKE %s", [f"%{SECRET[8:20]}%"])
        assert cursor.fetchone()[0] == 0
    assert SECRET not in stored and decrypt_secret(stored) == SECRET
    # PATCH without api_key keeps it; with "" removes it.
    admin_client.patch(f"/api/v1/admin/providers/{body['id']}", {"timeout_seconds": 12}, format="json")
    provider = ProviderConnection.objects.get(pk=body["id"])
    assert provider.timeout_seconds == 12 and decrypt_secret(provider.api_key_encrypted) == SECRET
    cleared = admin_client.patch(f"/api/v1/admin/providers/{body['id']}", {"api_key": ""}, format="json")
    assert cleared.json()["api_key_set"] is False


def test_key_rotation_reencrypts_under_the_new_key(db: Any, settings: Any) -> None:
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.LLM_ENCRYPTION_KEYS = [old]
    provider = services.provider_create(name="p", kind="openai", api_key=SECRET)
    settings.LLM_ENCRYPTION_KEYS = [new, old]
    assert services.provider_keys_rotate() == 1
    provider.refresh_from_db()
    settings.LLM_ENCRYPTION_KEYS = [new]
    assert decrypt_secret(provider.api_key_encrypted) == SECRET
    assert Fernet(new.encode()).decrypt(provider.api_key_encrypted.encode()).decode() == SECRET


def test_admin_routes_need_the_admin_role_and_scope(db: Any) -> None:
    user = UserFactory()
    plain = APIClient()
    plain.force_authenticate(user=user)
    for path in ("/api/v1/admin/providers", "/api/v1/admin/models", "/api/v1/metrics"):
        assert plain.get(path).status_code == 403
    admin = AdminUserFactory()
    assert _key_client(admin, ["chat"]).get("/api/v1/admin/providers").status_code == 403
    assert _key_client(admin, ["admin"]).get("/api/v1/admin/providers").status_code == 200
    assert APIClient().get("/api/v1/admin/models").status_code == 401


def test_admin_model_crud_and_validation(admin_client: APIClient) -> None:
    provider = services.provider_create(name="fake", kind="openai", base_url="http://127.0.0.1:9/v1", api_key="k")
    payload = {"name": "my-model", "provider": "fake", "provider_model": "llama3", "capabilities": ["chat"], "input_cost": 12.5,
               "output_cost": 50, "context_window": 8192, "max_output_tokens": 1024, "tiers": ["pro"], "active": True}
    created = admin_client.post("/api/v1/admin/models", payload, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["input_cost"] == 12.5 and body["provider"] == "fake" and body["tiers"] == ["pro"]
    assert admin_client.post("/api/v1/admin/models", payload, format="json").status_code == 409
    bad = admin_client.post("/api/v1/admin/models", {**payload, "name": "Not A Slug!", "tiers": ["gold"], "input_cost": -1}, format="json")
    assert bad.status_code == 400
    assert {"name", "tiers", "input_cost"} <= set(bad.json()["error"]["details"])
    patched = admin_client.patch(f"/api/v1/admin/models/{body['id']}", {"output_cost": 60, "active": False}, format="json")
    assert patched.status_code == 200 and patched.json()["output_cost"] == 60.0
    assert admin_client.delete(f"/api/v1/admin/models/{body['id']}").status_code == 204
    assert admin_client.get(f"/api/v1/admin/models/{body['id']}").status_code == 404
    assert provider.models.count() == 0


def test_models_list_is_filtered_by_tier(db: Any) -> None:
    provider = services.provider_create(name="fake", kind="openai", base_url="http://127.0.0.1:9/v1", api_key="k")
    for name, tiers, active in (("open-model", [], True), ("pro-model", ["pro"], True), ("off-model", [], False)):
        services.model_create(name=name, provider=provider, provider_model=name, tiers=tiers, active=active,
                              input_cost=Decimal("1.5"), output_cost=Decimal(2))
    registry.forget()
    free_user = UserFactory()
    client = _key_client(free_user, ["knowledge"])  # any key may list models
    response = client.get("/api/v1/models")
    assert response.status_code == 200
    names = [item["name"] for item in response.json()["results"]]
    assert "open-model" in names and "pro-model" not in names and "off-model" not in names
    item = next(i for i in response.json()["results"] if i["name"] == "open-model")
    assert set(item) == {"id", "name", "provider", "capabilities", "input_cost", "output_cost", "context_window"}
    assert item["input_cost"] == 1.5 and item["provider"] == "fake"
    free_user.tier_id = "pro"
    free_user.save()
    from apps.accounts.policy import policy_cache_clear

    policy_cache_clear()
    pro_names = [i["name"] for i in _key_client(free_user, ["chat"]).get("/api/v1/models").json()["results"]]
    assert "pro-model" in pro_names


def test_seeded_catalogue_waits_for_a_provider_key(db: Any, settings: Any) -> None:
    settings.OPENAI_API_KEY = ""
    seeds.seed()
    gpt = LlmModel.objects.get(name="gpt-4o-mini")
    assert gpt.active is False and gpt.input_cost == Decimal("15") and gpt.output_cost == Decimal("60")
    assert LlmModel.objects.get(name="nexus-offline").active
    registry.forget()
    names = [e.name for e in __import__("apps.llm.selectors", fromlist=["x"]).model_list_for_user(user=UserFactory())]
    assert names == ["nexus-offline"]
    # A key from the environment (the start-up seed) switches the catalogue on.
    settings.OPENAI_API_KEY = SECRET
    summary = seeds.seed()
    assert summary["providers_from_env"] == ["openai"]
    gpt.refresh_from_db()
    assert gpt.active is True
    provider = ProviderConnection.objects.get(name="openai")
    assert provider.source == "env" and decrypt_secret(provider.api_key_encrypted) == SECRET
    assert seeds.seed()["models_created"] == 0  # idempotent


def test_env_base_url_registers_a_local_servers_models(db: Any, settings: Any, fake_llm: Any) -> None:
    settings.OPENAI_BASE_URL = base_url_for("openai", fake_llm)
    settings.OPENAI_API_KEY = FAKE_KEY
    seeds.seed()
    assert set(LlmModel.objects.filter(provider__name="openai", seeded=False).values_list("name", flat=True)) == {
        "openai-fake-model", "openai-fake-model-large"}


def test_provider_test_connection_lists_models(admin_client: APIClient, fake_llm: Any) -> None:
    for kind in ("openai", "anthropic", "gemini"):
        provider = services.provider_create(name=f"t-{kind}", kind=kind, base_url=base_url_for(kind, fake_llm), api_key=FAKE_KEY)
        response = admin_client.post(f"/api/v1/admin/providers/{provider.id}/test")
        assert response.status_code == 200
        assert response.json() == {"ok": True, "models": ["fake-model", "fake-model-large"], "error": None}
    wrong = services.provider_create(name="wrong", kind="openai", base_url=base_url_for("openai", fake_llm), api_key="bad")
    result = admin_client.post(f"/api/v1/admin/providers/{wrong.id}/test").json()
    assert result["ok"] is False and "rejected" in result["error"]
    wrong.refresh_from_db()
    assert wrong.last_check_ok is False


def _usage(**kwargs: Any) -> None:
    defaults = {"user_id": None, "api_key_id": None, "workspace_id": None, "model_id": None, "provider_name": "p",
                "streamed": True, "origin": "chat", "request_id": "r", "ttft_ms": 50}
    services.usage_record_create(**{**defaults, **kwargs})


def test_metrics_per_model(admin_client: APIClient) -> None:
    for latency in (100, 200, 300):
        _usage(model_name="a", usage=Usage(prompt_tokens=10, completion_tokens=20, cost=Decimal("0.5")), status="completed", latency_ms=latency)
    _usage(model_name="a", usage=Usage(), status="failed", latency_ms=10, error_code="MODEL_UNAVAILABLE")
    _usage(model_name="b", usage=Usage(prompt_tokens=1, completion_tokens=1), status="stopped", latency_ms=5)
    response = admin_client.get("/api/v1/metrics?period=24h")
    assert response.status_code == 200
    body = response.json()
    a = next(m for m in body["models"] if m["model"] == "a")
    assert (a["requests"], a["errors"], a["prompt_tokens"], a["completion_tokens"]) == (4, 1, 30, 60)
    assert a["error_rate"] == 0.25 and a["cost"] == 1.5
    assert a["latency_ms"]["p50"] == 150.0 and a["ttft_ms"]["p50"] == 50.0
    assert body["totals"]["requests"] == 5 and body["period"] == "24h"
    assert admin_client.get("/api/v1/metrics?period=5y").status_code == 400


def test_usage_records_of_many_calls_are_one_insert(db: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.llm.models import UsageRecord

    defaults = {"user_id": None, "api_key_id": None, "workspace_id": None, "model_id": None, "provider_name": "p", "streamed": False,
                "origin": "gateway", "ttft_ms": None, "status": "completed"}
    rows = [{**defaults, "model_name": f"m{n}", "request_id": f"req-{n}", "latency_ms": n, "usage": Usage(prompt_tokens=n, completion_tokens=2 * n,
             cost=Decimal(n) / 100)} for n in range(1, 4)]
    with CaptureQueriesContext(connection) as inserting:
        services.usage_records_create(rows)
    assert len(inserting.captured_queries) == 1
    stored = UsageRecord.objects.filter(request_id__startswith="req-").order_by("request_id")
    assert [(r.model_name, r.prompt_tokens, r.completion_tokens, r.total_tokens, r.cost, r.latency_ms) for r in stored] == [
        (f"m{n}", n, 2 * n, 3 * n, Decimal(n) / 100, n) for n in range(1, 4)]


def test_usage_records_are_one_statement_whatever_their_number_and_keep_every_value(db: Any) -> None:
    """The INSERT's text is the same for one record and for three (psycopg parses it once); ids as UUIDs or as text, NULLs, flags."""
    import uuid

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.accounts.models import User
    from apps.llm.models import UsageRecord
    from tests.factories import UserFactory

    user = UserFactory()
    key_id = uuid.uuid4()
    defaults = {"user_id": None, "api_key_id": None, "workspace_id": None, "model_id": None, "provider_name": "p", "origin": "gateway",
                "status": "completed", "latency_ms": 7}
    three = [
        {**defaults, "model_name": "x" * 130, "request_id": "many-1", "user_id": user.pk, "api_key_id": key_id, "streamed": True, "ttft_ms": 3,
         "usage": Usage(prompt_tokens=5, completion_tokens=6, reasoning_tokens=1, cost=Decimal("0.000123"))},
        {**defaults, "model_name": "m", "request_id": "many-2", "user_id": str(user.pk), "api_key_id": str(key_id), "streamed": False,
         "ttft_ms": None, "usage": Usage()},
        {**defaults, "model_name": "m", "request_id": "many-3", "streamed": False, "ttft_ms": None, "latency_ms": -4, "status": "failed",
         "error_code": "PROVIDER_TIMEOUT", "error_message": "e" * 600, "usage": Usage()},
    ]
    with CaptureQueriesContext(connection) as many:
        services.usage_records_create(three)
    with CaptureQueriesContext(connection) as one:
        services.usage_records_create([{**three[1], "request_id": "many-4"}])
    assert len(many.captured_queries) == len(one.captured_queries) == 1
    assert many.captured_queries[0]["sql"].split(" SELECT ")[0] == one.captured_queries[0]["sql"].split(" SELECT ")[0]
    stored = {record.request_id: record for record in UsageRecord.objects.filter(request_id__startswith="many-")}
    first, second, third = stored["many-1"], stored["many-2"], stored["many-3"]
    assert first.model_name == "x" * 100 and first.user_id == user.pk and first.api_key_id == key_id and first.streamed and first.ttft_ms == 3
    assert (first.prompt_tokens, first.completion_tokens, first.reasoning_tokens, first.total_tokens, first.cost) == (5, 6, 1, 11, Decimal("0.000123"))
    assert second.user_id == user.pk and second.api_key_id == key_id and second.ttft_ms is None and not second.streamed
    assert third.user_id is None and third.latency_ms == 0 and third.error_code == "PROVIDER_TIMEOUT" and len(third.error_message) == 500
    assert stored["many-4"].created_at is not None and User.objects.get(pk=user.pk).llm_usage.count() == 3


def test_health_reports_providers_without_calling_them(db: Any, fake_llm: Any) -> None:
    seeds.seed_catalogue()
    make_fake_models(fake_llm)
    report = check_providers()
    by_name = {p["name"]: p for p in report["providers"]}
    assert by_name["openai"]["status"] == "not_configured" and by_name["fake-openai"]["status"] == "ok"
    assert by_name["local"]["status"] == "ok" and report["status"] == "ok"
    assert fake_llm.log == []  # no provider was called
    for _ in range(3):
        _usage(model_name="fake-gemini", provider_name="fake-gemini", usage=Usage(), status="failed", latency_ms=1)
    assert check_providers() == report  # cached
    from django.core.cache import cache

    cache.delete("health:providers")
    assert {p["name"]: p["status"] for p in check_providers()["providers"]}["fake-gemini"] == "degraded"
    health = APIClient().get("/health").json()
    assert "providers" in health["services"] and health["services"]["providers"]["status"] == "degraded"

