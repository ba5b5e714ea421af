"""Deploy, redeploy (atomic), undeploy; templates; credits (402) and tier limits (429); admin statistics."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.storage import default_storage

from apps.billing.selectors import balance_for
from apps.billing.services import credit_charge
from apps.forge.models import Build, Deployment
from apps.forge.sites import ROOT
from tests.chat.conftest import make_caller
from tests.factories import UserFactory

from .conftest import INDEX_HTML, client_for, script_app

pytestmark = pytest.mark.django_db(transaction=True)


def _completed(client: Any, fake: Any) -> str:
    script_app(fake)
    answer = client.post("/api/v1/forge/builds", {"prompt": "A to-do list"}, format="json")
    assert answer.status_code == 202, answer.content
    return str(answer.json()["session_id"])


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_deploy_redeploy_and_undeploy(forge_caller: Any, forge_model: Any) -> None:
    client = client_for(forge_caller.user)
    build_id = _completed(client, forge_model)
    preview = Deployment.objects.get(build_id=build_id)
    assert preview.environment == "preview" and preview.status == "deployed"
    old_version = preview.version

    deployed = client.post(f"/api/v1/forge/builds/{build_id}/deploy", {"environment": "production", "domain": "todo.example.com"},
                           format="json")
    assert deployed.status_code == 200, deployed.content
    body = deployed.json()
    assert body["status"] == "deployed" and body["environment"] == "production" and body["domain"] == "todo.example.com"
    assert body["deployment_id"] == str(preview.pk) and _path(body["deployment_url"]) == f"/apps/{preview.slug}/"
    current = Deployment.objects.get(pk=preview.pk)
    assert current.version != old_version  # a new version folder, switched in one update
    assert not default_storage.exists(f"{ROOT}/{preview.slug}/{old_version}/index.html")  # the old one is gone
    assert default_storage.exists(f"{ROOT}/{preview.slug}/{current.version}/index.html")
    page = client.get(_path(body["deployment_url"]))
    assert page.status_code == 200 and page.content.decode() == INDEX_HTML

    assert client.post(f"/api/v1/forge/builds/{build_id}/deploy", {"environment": "mars"}, format="json").status_code == 400
    undeployed = client.delete(f"/api/v1/forge/builds/{build_id}/deploy")
    assert undeployed.status_code == 200 and undeployed.json()["status"] == "undeployed" and undeployed.json()["deployment_url"] is None
    assert client.get(_path(body["deployment_url"])).status_code == 404
    assert client.delete(f"/api/v1/forge/builds/{build_id}/deploy").status_code == 409
    assert client.get(f"/api/v1/forge/builds/{build_id}").json()["result"]["deployment_url"] is None

    # DELETE on an ended build deletes it, with its files and deployment.
    assert client.delete(f"/api/v1/forge/builds/{build_id}").status_code == 204
    assert not Build.objects.filter(pk=build_id).exists() and not Deployment.objects.filter(pk=preview.pk).exists()
    assert client.get(f"/api/v1/forge/builds/{build_id}").status_code == 404


def test_a_failed_build_cannot_be_deployed_or_downloaded(forge_caller: Any, forge_model: Any) -> None:
    client = client_for(forge_caller.user)
    answer = client.post("/api/v1/forge/builds", {"prompt": "A to-do list #fail=400"}, format="json")
    build_id = answer.json()["session_id"]
    assert Build.objects.get(pk=build_id).status == "failed"
    assert client.post(f"/api/v1/forge/builds/{build_id}/deploy", {}, format="json").status_code == 409
    assert client.get(f"/api/v1/forge/builds/{build_id}/download").status_code == 409


def test_templates_and_from_template(forge_caller: Any, forge_model: Any) -> None:
    client = client_for(forge_caller.user)
    templates = client.get("/api/v1/forge/templates").json()
    assert [t["id"] for t in templates] == ["dashboard", "landing-page", "crud-app", "portfolio", "blog"]
    assert all(t["example_prompt"] and t["features"] and t["config"] for t in templates)
    script_app(forge_model)
    answer = client.post("/api/v1/forge/builds/from-template",
                         {"template_id": "crud-app", "customizations": {"app_name": "Stock Keeper", "styling": "dark"}}, format="json")
    assert answer.status_code == 202, answer.content
    build = Build.objects.get(pk=answer.json()["session_id"])
    assert build.template_id == "crud-app" and build.status == "completed"
    assert build.config == {"stack": "static", "styling": "dark"}
    assert build.prompt.startswith("Build a small inventory manager") and "app_name: Stock Keeper" in build.prompt
    analysis_call = [e for e in forge_model.log if "[forge:analyze]" in json.dumps(e.body)][0]
    assert "Stock Keeper" in json.dumps(analysis_call.body)
    bad = client.post("/api/v1/forge/builds/from-template", {"template_id": "blog", "customizations": {"stack": "cobol"}}, format="json")
    assert bad.status_code == 400


def test_402_when_not_even_a_minimal_build_is_affordable(forge_caller: Any, forge_model: Any) -> None:
    user = forge_caller.user
    credit_charge(account_or_user=user, amount=Decimal(str(balance_for(user=user)["available"])), reference="test:drain")
    answer = client_for(user).post("/api/v1/forge/builds", {"prompt": "A to-do list"}, format="json")
    assert answer.status_code == 402 and answer.json()["error"]["code"] == "INSUFFICIENT_CREDITS"
    assert not Build.objects.filter(owner=user).exists() and forge_model.log == []


def test_concurrent_and_hourly_limits_come_from_the_tier(forge_caller: Any, forge_model: Any, settings: Any) -> None:
    user = forge_caller.user
    running = Build.objects.create(owner=user, prompt="x", status="building", model_name="forge-fake")
    answer = client_for(user).post("/api/v1/forge/builds", {"prompt": "A to-do list"}, format="json")
    assert answer.status_code == 429 and answer.json()["error"]["code"] == "RATE_LIMITED" and int(answer["Retry-After"]) > 0
    running.delete()
    settings.FORGE_TIER_LIMITS = {"free": {"builds_per_hour": 1, "concurrent": 1}}
    script_app(forge_model)
    assert client_for(user).post("/api/v1/forge/builds", {"prompt": "A to-do list"}, format="json").status_code == 202
    again = client_for(user).post("/api/v1/forge/builds", {"prompt": "A to-do list"}, format="json")
    assert again.status_code == 429 and int(again["Retry-After"]) > 0


def test_statistics_for_admins_only(forge_caller: Any, forge_model: Any) -> None:
    _completed(client_for(forge_caller.user), forge_model)
    Build.objects.create(owner=forge_caller.user, prompt="x", status="failed", model_name="forge-fake")
    assert client_for(make_caller().user).get("/api/v1/admin/forge/statistics").status_code == 403
    admin = UserFactory(is_superuser=True, is_staff=True)
    stats = client_for(admin).get("/api/v1/admin/forge/statistics").json()
    assert stats["total"] == 2 and stats["completed"] == 1 and stats["failed"] == 1 and stats["success_rate"] == 0.5
    assert stats["median_seconds"] is not None and stats["median_cost"] > 0 and stats["active_sessions"] == 0
    assert sum(day["builds"] for day in stats["builds_per_day"]) == 2 and stats["builds_per_month"][-1]["builds"] == 2
    assert client_for(admin).get("/api/v1/admin/forge/statistics?days=abc").status_code == 400
