"""Forge fixtures: models on the loopback fake provider, a scripted app (spec + files), callers, stream helpers."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.llm import services as llm_services
from apps.llm.selectors import registry
from tests.chat.conftest import Caller, make_caller
from tests.fakes.llm_server import FakeLlmServer
from tests.llm.conftest import (  # noqa: F401  (fixtures re-exported for the forge tests)
    FAKE_KEY,
    committed_db,
    fake_llm,
    fake_llm_server,
    fresh_llm_state,
)

FORGE_MODEL = "forge-fake"

SPEC: dict[str, Any] = {
    "name": "Todo Lite",
    "description": "A tiny to-do list.",
    "features": ["Add tasks", "Complete tasks"],
    "pages": [{"name": "Home", "description": "The list of tasks", "path": "/"}],
    "components": [{"name": "TaskList", "description": "The tasks"}],
    "api_endpoints": [],
    "data_model": [{"name": "Task", "fields": [{"name": "title", "type": "string"}]}],
    "files": [{"path": "index.html", "purpose": "the page"}, {"path": "style.css", "purpose": "styles"},
              {"path": "app.js", "purpose": "the logic"}],
}
INDEX_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Todo Lite</title><link rel="stylesheet" href="style.css"></head>
<body><main><h1>Todo Lite</h1><ul id="tasks"></ul>
<p id="cookie-probe">pending</p><p id="api-probe">pending</p></main>
<script src="app.js"></script></body></html>
"""
STYLE_CSS = "body { font-family: sans-serif; }\nh1 { color: #334; }\n"
# The app reports what it can see of the platform: its cookies and its API as the visitor.
APP_JS = """var probe = document.getElementById('cookie-probe');
try { probe.textContent = 'cookies:' + document.cookie; } catch (e) { probe.textContent = 'cookies-blocked'; }
var apiProbe = document.getElementById('api-probe');
try {
  fetch('/api/v1/users/me', {credentials: 'include'}).then(function (r) { return r.text(); })
    .then(function (t) { apiProbe.textContent = 'api:' + t; }, function () { apiProbe.textContent = 'api-blocked'; });
} catch (e) { apiProbe.textContent = 'api-blocked'; }
var list = document.getElementById('tasks');
['Write tests', 'Ship it'].forEach(function (t) { var li = document.createElement('li'); li.textContent = t; list.appendChild(li); });
"""
BROKEN_JS = "function ( {\n"


def script_app(fake: FakeLlmServer, *, spec: Any = None, files: dict[str, str] | None = None, first_spec: str | None = None,
               fixes: dict[str, str] | None = None) -> None:
    """Script the fake to answer each phase's call: analysis, spec (optionally a bad first one), files, fixes."""
    final_spec = json.dumps(spec if spec is not None else SPEC)
    if first_spec is not None:
        fake.script("[forge:spec-repair]", final_spec)
        fake.script("[forge:spec]", first_spec)
    else:
        fake.script("[forge:spec]", final_spec)
    fake.script("[forge:analyze]", "A small to-do list: one page, tasks added and ticked off.")
    for path, content in (fixes or {}).items():
        fake.script(f"[forge:fix] {path}", content)
    for path, content in (files if files is not None else {"index.html": INDEX_HTML, "style.css": STYLE_CSS, "app.js": APP_JS}).items():
        fake.script(f"[forge:file] {path}\n", content)


def make_forge_model(server: FakeLlmServer) -> None:
    """An OpenAI-wire model on the fake with room for whole files (100/400 credits per 1M tokens)."""
    provider = llm_services.provider_create(name="forge-fake", kind="openai", base_url=server.url + "/v1", api_key=FAKE_KEY,
                                            timeout_seconds=5.0)
    llm_services.model_create(name=FORGE_MODEL, provider=provider, provider_model="fake-model", capabilities=["chat", "streaming"],
                              input_cost=Decimal("100"), output_cost=Decimal("400"), context_window=64000, max_output_tokens=4000)
    registry.forget()


@pytest.fixture
def forge_model(committed_db: None, fake_llm: FakeLlmServer, settings: Any) -> FakeLlmServer:  # noqa: F811
    """The fake, with the Forge model and the template catalogue committed, and the model selected by FORGE_MODEL."""
    from apps.forge.seeds import seed

    seed()  # a transactional test flushes what the migration seeded
    make_forge_model(fake_llm)
    settings.FORGE_MODEL = FORGE_MODEL
    settings.FORGE_SCREENSHOTS = False  # in-process builds skip Chromium; the worker, browser and screenshot tests take them
    return fake_llm


@pytest.fixture
def forge_caller(forge_model: FakeLlmServer) -> Caller:
    """A committed user with the default role and tier, and an API key."""
    return make_caller()


def client_for(user: Any) -> APIClient:
    """An in-process API client signed in as `user`."""
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def event_types(events: list[Any]) -> list[str]:
    """The `type` of each stream event."""
    return [event.data["type"] for event in events]
