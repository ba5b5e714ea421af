"""Apps register themselves: a new app is one folder plus one line in INSTALLED_APPS.

tests/sample_app declares an API route, a page with a nav entry, a tool with its key scope, a Celery
queue and a beat entry on its AppConfig; nothing outside its folder names it.
"""
from __future__ import annotations

import importlib
from collections.abc import Iterator

import pytest
from django.test import Client, modify_settings, override_settings
from django.urls import clear_url_caches
from rest_framework.test import APIClient

import config.urls
from apps.accounts.models import SCOPES, TOOLS, Role, UserRole
from apps.accounts.permissions import TOOL_SCOPES
from apps.core.queues import CeleryQueue, all_queue_names, celery_queues
from apps.core.registry import beat_schedule, queue_names
from apps.dashboard.context_processors import NAVIGATION
from tests.factories import UserFactory


def _reload_root_urls() -> None:
    # The root URLconf reads the installed apps when it is imported.
    clear_url_caches()
    importlib.reload(config.urls)
    clear_url_caches()


@pytest.fixture
def sample_app() -> Iterator[None]:
    """tests.sample_app added to INSTALLED_APPS, with the root URLs rebuilt for it (and back after)."""
    with modify_settings(INSTALLED_APPS={"append": "tests.sample_app"}), override_settings(ROOT_URLCONF="config.urls"):
        _reload_root_urls()
        yield
    _reload_root_urls()


def _sampler():  # type: ignore[no-untyped-def]
    """A user whose role grants the sample tool (the role is validated against the registered tools)."""
    user = UserFactory()
    role = Role(name="sampler", tools=["sample"])
    role.full_clean()
    role.save()
    UserRole.objects.create(user=user, role=role)
    return user


def test_the_shipped_apps_declare_what_the_ui_showed_before() -> None:
    assert TOOLS == ("chat", "compare", "assistant-architect", "knowledge", "forge", "agents", "workflows", "admin")
    assert SCOPES == ("chat", "knowledge", "architect", "forge", "agents", "workflows", "billing:read", "billing", "admin")
    assert TOOL_SCOPES == {
        "chat": "chat", "compare": "chat", "assistant-architect": "architect", "knowledge": "knowledge",
        "forge": "forge", "agents": "agents", "workflows": "workflows", "admin": "admin",
    }
    assert [(label, url_name) for label, url_name, _ in NAVIGATION] == [
        ("Home", "dashboard:home"), ("Knowledge", "knowledge:repositories"), ("Retrieval debugger", "knowledge:debugger"),
        ("Architect", "architect:tools"), ("Forge", "forge:home"), ("Agents", "agents:marketplace"), ("Chat", "chat:chat"),
        ("Workflows", "workflows:home"), ("Compare", "chat:compare"), ("Workspaces", "accounts:workspaces"), ("API keys", "accounts:keys"),
        ("Profile", "accounts:profile"), ("Shared links", "sharing:list"),
        ("Billing", "billing:page"),
    ]
    assert set(queue_names()) == {queue.value for queue in CeleryQueue}
    assert set(beat_schedule()) == {
        "knowledge-reap-stuck-documents", "chat-reap-orphans", "billing-reset-monthly-credits",
        "billing-expire-reservations", "architect-reap-stale-executions", "forge-reap-stale-builds", "agents-sweep-offline",
        "agents-reap-tasks", "workflows-reap-stale-steps",
    }


def test_without_the_app_nothing_of_it_exists(db) -> None:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_authenticate(UserFactory())
    assert client.get("/api/v1/sample/ping").status_code == 404
    response = client.post("/api/v1/keys", {"name": "k", "scopes": ["sample"]}, format="json")
    assert response.status_code == 400 and "sample" in str(response.json())
    assert "sample" not in queue_names()


def test_its_api_route_answers_under_api_v1_behind_its_tool(sample_app, db) -> None:  # type: ignore[no-untyped-def]
    sampler, plain = APIClient(), APIClient()
    sampler.force_authenticate(_sampler())
    plain.force_authenticate(UserFactory())
    response = sampler.get("/api/v1/sample/ping")
    assert response.status_code == 200 and response.json()["pong"] is True
    assert plain.get("/api/v1/sample/ping").status_code == 403  # the user's roles lack the sample tool


def test_its_nav_entry_shows_on_the_dashboard_for_users_with_its_tool(sample_app, db) -> None:  # type: ignore[no-untyped-def]
    sampler, plain = Client(), Client()
    sampler.force_login(_sampler())
    plain.force_login(UserFactory())
    page = sampler.get("/").content.decode()
    assert '<a href="/sample/"' in page and ">Sample</a>" in page
    assert page.index(">Billing</a>") < page.index(">Sample</a>")  # after the shipped entries
    assert '<a href="/sample/"' not in plain.get("/").content.decode()
    assert sampler.get("/sample/").content == b"sample page"


def test_its_scope_is_accepted_for_an_api_key_and_covers_its_route(sample_app, db) -> None:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_authenticate(_sampler())
    created = client.post("/api/v1/keys", {"name": "sample key", "scopes": ["sample"]}, format="json")
    assert created.status_code == 201 and created.json()["scopes"] == ["sample"]
    other = client.post("/api/v1/keys", {"name": "chat key", "scopes": ["chat"]}, format="json").json()["key"]

    by_key = APIClient()
    assert by_key.get("/api/v1/sample/ping", HTTP_X_API_KEY=created.json()["key"]).status_code == 200
    assert by_key.get("/api/v1/sample/ping", HTTP_X_API_KEY=other).status_code == 403  # a chat key does not cover it


def test_its_queue_and_beat_entry_are_declared(sample_app) -> None:  # type: ignore[no-untyped-def]
    assert "sample" in [queue.name for queue in celery_queues()]
    assert all_queue_names().split(",")[-1] == "sample"
    assert beat_schedule()["sample-tick"]["options"] == {"queue": "sample"}
