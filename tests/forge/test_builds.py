"""Builds run in-process (eager Celery) against the scripted loopback fake provider and the real Redis/PostgreSQL."""
from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

from apps.billing.models import CreditReservation
from apps.core.streams import read_events
from apps.forge.models import Build, BuildFile
from apps.forge.selectors import build_stream_key
from apps.llm.models import UsageRecord

from .conftest import APP_JS, BROKEN_JS, INDEX_HTML, SPEC, STYLE_CSS, client_for, event_types, script_app

pytestmark = pytest.mark.django_db(transaction=True)
PHASES = ["analyzing", "generating_spec", "building", "optimizing", "deploying"]


def _start(client: Any, prompt: str = "A to-do list app", config: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": prompt}
    if config is not None:
        body["config"] = config
    answer = client.post("/api/v1/forge/builds", body, format="json")
    assert answer.status_code == 202, answer.content
    return answer.json()


def test_full_build_specifies_generates_checks_packages_and_publishes(forge_caller: Any, forge_model: Any) -> None:
    script_app(forge_model)
    client = client_for(forge_caller.user)
    started = _start(client, config={"stack": "static", "styling": "dark"})
    assert started["status"] == "build_started" and started["websocket_url"] == f"/ws/forge/{started['session_id']}"
    assert started["estimated_duration"]
    build_id = started["session_id"]

    shown = client.get(f"/api/v1/forge/builds/{build_id}").json()
    assert shown["status"] == "completed" and shown["progress"] == 100 and shown["error"] is None
    assert shown["config"] == {"stack": "static", "styling": "dark"} and shown["app_name"] == "Todo Lite"
    result = shown["result"]
    assert result["specification"]["name"] == "Todo Lite" and result["specification"]["features"] == ["Add tasks", "Complete tasks"]
    assert {f["path"]: f["content"] for f in result["files"]} == {"app.js": APP_JS, "index.html": INDEX_HTML, "style.css": STYLE_CSS}
    assert result["cost"] > 0 and result["total_tokens"] > 0 and result["model_calls"] == 5
    assert result["build_time_seconds"] is not None and result["deployment_url"].endswith("/")
    assert result["mockups"] == []  # no model with the `image` capability: no mockups, and no error

    # The spec call asked for structured output with the schema.
    spec_call = [e for e in forge_model.log if "[forge:spec]" in json.dumps(e.body)][0]
    assert spec_call.body["response_format"]["type"] == "json_schema"
    assert "files" in spec_call.body["response_format"]["json_schema"]["schema"]["properties"]

    events = read_events(build_stream_key(build_id))
    kinds = event_types(events)
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert kinds[-1] == "build_completed" and events[-1].final and kinds.count("build_completed") == 1
    assert [e.data["data"]["phase"] for e in events if e.data["type"] == "phase_completed"] == PHASES
    assert [e.data["data"]["next_phase"] for e in events if e.data["type"] == "phase_completed"] == [*PHASES[1:], None]
    seen_phases = [e.data["data"]["phase"] for e in events if e.data["type"] == "progress_update"]
    assert sorted(set(seen_phases), key=PHASES.index) == PHASES and seen_phases == sorted(seen_phases, key=PHASES.index)
    progress = [e.data["data"]["progress"] for e in events if e.data["type"] == "progress_update"]
    assert progress == sorted(progress)
    first = events[0].data["data"]
    assert set(first) == {"phase", "progress", "message", "timestamp"}
    done = events[-1].data["data"]
    assert done["deployment_url"] == result["deployment_url"] and done["summary"]["code_files"] == 3 and done["total_time"]

    # Every call was metered as Forge's and paid through its own hold, all settled.
    records = UsageRecord.objects.filter(request_id__startswith=f"forge.{build_id}.")
    assert records.count() == 5 and all(r.origin == "forge" and r.status == "completed" for r in records)
    holds = CreditReservation.objects.filter(reference__startswith=f"forge:{build_id}:")
    assert holds.count() == 5 and all(h.status == "settled" for h in holds)
    build = Build.objects.get(pk=build_id)
    assert build.cost == sum(r.cost for r in records) == sum(h.charged for h in holds)

    # Download: a zip of the files.
    download = client.get(f"/api/v1/forge/builds/{build_id}/download")
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert sorted(archive.namelist()) == ["todo-lite/app.js", "todo-lite/index.html", "todo-lite/style.css"]
    assert archive.read("todo-lite/app.js").decode() == APP_JS

    # The preview is served from storage under the sandboxing CSP.
    path = "/" + result["deployment_url"].split("/", 3)[3]
    page = client.get(path)
    assert page.status_code == 200 and page.content.decode() == INDEX_HTML and page["Content-Type"].startswith("text/html")
    assert "sandbox" in page["Content-Security-Policy"] and "allow-same-origin" not in page["Content-Security-Policy"]
    assert "connect-src 'none'" in page["Content-Security-Policy"] and page["X-Content-Type-Options"] == "nosniff"
    script = client.get(path + "app.js")
    assert script.status_code == 200 and "javascript" in script["Content-Type"] and script.content.decode() == APP_JS
    assert client.get(path + "secret.txt").status_code == 404
    assert client.get(path + "../../etc/passwd").status_code == 404


def test_list_search_and_status_filter(forge_caller: Any, forge_model: Any) -> None:
    script_app(forge_model)
    client = client_for(forge_caller.user)
    build_id = _start(client)["session_id"]
    listed = client.get("/api/v1/forge/builds").json()
    assert listed["count"] == 1 and listed["results"][0]["session_id"] == build_id
    assert listed["results"][0]["status"] == "completed" and listed["results"][0]["app_name"] == "Todo Lite"
    assert client.get("/api/v1/forge/builds?search=todo").json()["count"] == 1
    assert client.get("/api/v1/forge/builds?search=spaceship").json()["count"] == 0
    assert client.get("/api/v1/forge/builds?status=failed").json()["count"] == 0
    assert client.get("/api/v1/forge/builds?status=nonsense").status_code == 400


def test_bad_input(forge_caller: Any, forge_model: Any) -> None:
    client = client_for(forge_caller.user)
    cases = [
        ({"prompt": ""}, 400, "prompt"), ({"prompt": "   "}, 400, "prompt"), ({}, 400, "prompt"), ({"prompt": 5}, 400, "prompt"),
        ({"prompt": "x" * 10_001}, 413, "prompt"),
        ({"prompt": "an app", "config": {"stack": "cobol"}}, 400, "config.stack"),
        ({"prompt": "an app", "config": {"styling": "brutalist"}}, 400, "config.styling"),
        ({"prompt": "an app", "config": {"useAdaptiveThinking": True}}, 400, "config.useAdaptiveThinking"),
        ({"prompt": "an app", "config": "static"}, 400, "config"),
    ]
    for body, status, field in cases:
        answer = client.post("/api/v1/forge/builds", body, format="json")
        assert answer.status_code == status, (body, answer.content)
        assert field in (answer.json()["error"]["details"] or {}), (body, answer.json())
    assert client.post("/api/v1/forge/builds", {"prompt": "x" * 10_000}, format="json").status_code != 413
    missing = client.post("/api/v1/forge/builds/from-template", {"template_id": "spaceship"}, format="json")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


def test_another_users_build_is_not_found_on_every_route(forge_caller: Any, forge_model: Any) -> None:
    from tests.chat.conftest import make_caller

    script_app(forge_model)
    build_id = _start(client_for(forge_caller.user))["session_id"]
    other = client_for(make_caller().user)
    for method, path in [("get", ""), ("delete", ""), ("post", "/deploy"), ("delete", "/deploy"), ("get", "/download")]:
        answer = getattr(other, method)(f"/api/v1/forge/builds/{build_id}{path}", format="json")
        assert answer.status_code == 404, (method, path, answer.content)
        assert answer.json()["error"]["code"] == "NOT_FOUND"
    assert other.get("/api/v1/forge/builds").json()["count"] == 0
    assert Build.objects.filter(pk=build_id, status="completed").exists()


def test_garbage_spec_is_repaired_once(forge_caller: Any, forge_model: Any) -> None:
    script_app(forge_model, first_spec='{"name": "Todo Lite", "files": "everything"}')
    client = client_for(forge_caller.user)
    build_id = _start(client)["session_id"]
    build = Build.objects.get(pk=build_id)
    assert build.status == "completed" and build.spec["name"] == "Todo Lite"
    repair = [e for e in forge_model.log if "[forge:spec-repair]" in json.dumps(e.body)]
    assert len(repair) == 1 and "not a valid specification" in json.dumps(repair[0].body)
    messages = [e.data["data"]["message"] for e in read_events(build_stream_key(build_id)) if e.data["type"] == "progress_update"]
    assert any(m.startswith("Repairing the specification") for m in messages)


def test_garbage_after_repair_fails_cleanly_and_charges_only_what_was_used(forge_caller: Any, forge_model: Any) -> None:
    script_app(forge_model, first_spec="Sure! Here is your app: <html>", spec="still not a specification")
    forge_model.script("[forge:spec-repair]", "I cannot do that.")
    client = client_for(forge_caller.user)
    build_id = _start(client)["session_id"]
    shown = client.get(f"/api/v1/forge/builds/{build_id}").json()
    assert shown["status"] == "failed"
    error = shown["error"]
    assert error["phase"] == "generating_spec" and error["error_code"] == "BAD_MODEL_OUTPUT" and error["retry_possible"] is True
    assert "specification" in error["message"] and "Traceback" not in error["message"]
    events = read_events(build_stream_key(build_id))
    assert events[-1].final and events[-1].data == {"type": "error", "data": error}
    assert "build_completed" not in event_types(events)
    records = UsageRecord.objects.filter(request_id__startswith=f"forge.{build_id}.")
    assert records.count() == 3  # analysis, spec, one repair: no file was generated
    holds = CreditReservation.objects.filter(reference__startswith=f"forge:{build_id}:")
    assert holds.count() == 3 and all(h.status == "settled" for h in holds)
    assert sum(h.charged for h in holds) == sum(r.cost for r in records) == Build.objects.get(pk=build_id).cost
    assert not BuildFile.objects.filter(build_id=build_id).exists()


def test_a_broken_file_gets_one_fix_call(forge_caller: Any, forge_model: Any) -> None:
    script_app(forge_model, files={"index.html": INDEX_HTML, "style.css": STYLE_CSS, "app.js": BROKEN_JS}, fixes={"app.js": APP_JS})
    build_id = _start(client_for(forge_caller.user))["session_id"]
    assert Build.objects.get(pk=build_id).status == "completed"
    fixed = BuildFile.objects.get(build_id=build_id, path="app.js")
    assert fixed.fixed and fixed.content == APP_JS and fixed.check_error == ""
    fix_calls = [e for e in forge_model.log if "[forge:fix] app.js" in json.dumps(e.body)]
    assert len(fix_calls) == 1 and "JavaScript" in json.dumps(fix_calls[0].body)
    completed = [e.data["data"] for e in read_events(build_stream_key(build_id)) if e.data["type"] == "phase_completed"]
    assert {"phase": "optimizing", "results": {"checked": 3, "fixed": 1}, "next_phase": "deploying"} in completed


def test_a_file_still_broken_after_its_fix_fails_the_build(forge_caller: Any, forge_model: Any) -> None:
    script_app(forge_model, files={"index.html": "<html><body><div>unclosed</body></html>", "style.css": STYLE_CSS, "app.js": APP_JS},
               fixes={"index.html": "<html><body><main>still</body></html>"})
    build_id = _start(client_for(forge_caller.user))["session_id"]
    build = Build.objects.get(pk=build_id)
    assert build.status == "failed" and build.error["phase"] == "optimizing" and build.error["error_code"] == "BAD_MODEL_OUTPUT"
    assert "index.html" in build.error["message"] and "HTML" in build.error["message"]
    assert not CreditReservation.objects.filter(reference__startswith=f"forge:{build_id}:", status="held").exists()


def test_provider_failure_fails_the_build_with_a_retryable_error(forge_caller: Any, forge_model: Any) -> None:
    script_app(forge_model)
    build_id = _start(client_for(forge_caller.user), prompt="A to-do list #fail=503")["session_id"]
    build = Build.objects.get(pk=build_id)
    assert build.status == "failed" and build.error["phase"] == "analyzing"
    assert build.error["error_code"] == "MODEL_UNAVAILABLE" and build.error["retry_possible"] is True


def test_screenshots_of_the_built_app_in_headless_chromium(forge_caller: Any, forge_model: Any, settings: Any) -> None:
    from tests.browser import require_chromium

    settings.FORGE_CHROMIUM_PATH = require_chromium()
    settings.FORGE_SCREENSHOTS = True
    script_app(forge_model)
    client = client_for(forge_caller.user)
    build_id = _start(client)["session_id"]
    result = client.get(f"/api/v1/forge/builds/{build_id}").json()["result"]
    assert result["screenshots"] == [{"page": "Home", "path": "index.html", "url": f"/api/v1/forge/builds/{build_id}/screenshots/0"}]
    image = client.get(result["screenshots"][0]["url"])
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    png = b"".join(image.streaming_content)
    assert png.startswith(b"\x89PNG") and len(png) > 2000
    assert client.get(f"/api/v1/forge/builds/{build_id}/screenshots/1").status_code == 404
    from tests.chat.conftest import make_caller

    assert client_for(make_caller().user).get(result["screenshots"][0]["url"]).status_code == 404
    done = read_events(build_stream_key(build_id))[-1].data["data"]
    assert done["summary"]["screenshots"] == 1


def test_mockups_from_an_image_model_one_per_page(forge_caller: Any, forge_model: Any) -> None:
    from decimal import Decimal

    from apps.llm import services as llm_services
    from apps.llm.models import ProviderConnection
    from apps.llm.selectors import registry

    provider = ProviderConnection.objects.get(name="forge-fake")
    llm_services.model_create(name="forge-image", provider=provider, provider_model="fake-image", capabilities=["image"],
                              input_cost=Decimal("500"), output_cost=Decimal("4000"), context_window=8000, max_output_tokens=8000)
    registry.forget()
    spec = {**SPEC, "pages": [{"name": "Home", "description": "The list", "path": "/"},
                              {"name": "Stats", "description": "Counts of tasks", "path": "/stats"}]}
    script_app(forge_model, spec=spec)
    client = client_for(forge_caller.user)
    build_id = _start(client)["session_id"]
    result = client.get(f"/api/v1/forge/builds/{build_id}").json()["result"]
    assert [m["page"] for m in result["mockups"]] == ["Home", "Stats"]
    image = client.get(result["mockups"][1]["url"])
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content).startswith(b"\x89PNG")
    calls = [e for e in forge_model.log if e.path == "/v1/images/generations"]
    assert len(calls) == 2 and all("[forge:mockup]" in e.body["prompt"] and e.body["model"] == "fake-image" for e in calls)
    records = UsageRecord.objects.filter(request_id__startswith=f"forge.{build_id}.mockup-")
    assert records.count() == 2 and all(r.completion_tokens == 272 and r.cost > 0 for r in records)
    holds = CreditReservation.objects.filter(reference__startswith=f"forge:{build_id}:mockup-")
    assert holds.count() == 2 and all(h.status == "settled" for h in holds)
    assert Build.objects.get(pk=build_id).cost == sum(r.cost for r in UsageRecord.objects.filter(request_id__startswith=f"forge.{build_id}."))
    spec_done = [e.data["data"] for e in read_events(build_stream_key(build_id)) if e.data["type"] == "phase_completed"][1]
    assert spec_done["phase"] == "generating_spec" and spec_done["results"]["mockups"] == 2


def test_a_failing_image_model_means_no_mockups_not_a_failed_build(forge_caller: Any, forge_model: Any) -> None:
    from decimal import Decimal

    from apps.llm import services as llm_services
    from apps.llm.models import ProviderConnection
    from apps.llm.selectors import registry

    working = ProviderConnection.objects.get(name="forge-fake")
    broken = llm_services.provider_create(name="forge-images-wrong-key", kind="openai", base_url=working.base_url, api_key="wrong",
                                          timeout_seconds=5.0)
    llm_services.model_create(name="forge-image", provider=broken, provider_model="fake-image", capabilities=["image"],
                              input_cost=Decimal("500"), output_cost=Decimal("4000"), context_window=8000, max_output_tokens=8000)
    registry.forget()
    script_app(forge_model)
    client = client_for(forge_caller.user)
    build_id = _start(client)["session_id"]
    shown = client.get(f"/api/v1/forge/builds/{build_id}").json()
    assert shown["status"] == "completed" and shown["result"]["mockups"] == []
    assert any(e.data["data"].get("message", "").startswith("No mockup of Home") for e in read_events(build_stream_key(build_id)))
    assert not CreditReservation.objects.filter(reference__startswith=f"forge:{build_id}:", status="held").exists()


def test_a_build_past_its_time_limit_fails_with_build_timeout(forge_caller: Any, forge_model: Any, settings: Any) -> None:
    settings.FORGE_BUILD_TIMEOUT_SECONDS = 1
    script_app(forge_model)
    build_id = _start(client_for(forge_caller.user), prompt="A to-do list #hang")["session_id"]
    build = Build.objects.get(pk=build_id)
    assert build.status == "failed" and build.error["error_code"] == "BUILD_TIMEOUT" and build.error["retry_possible"] is True
    assert forge_model.wait_for(lambda entry: entry.client_closed).client_closed
    assert not CreditReservation.objects.filter(reference__startswith=f"forge:{build_id}:", status="held").exists()


def test_the_static_api_stack_adds_a_python_backend_checked_with_compile(forge_caller: Any, forge_model: Any) -> None:
    spec = {**SPEC, "files": [*SPEC["files"], {"path": "server.py", "purpose": "a JSON API"}]}
    server = "import json\n\n\ndef handler():\n    return json.dumps({'ok': True})\n"
    script_app(forge_model, spec=spec, files={"index.html": INDEX_HTML, "style.css": STYLE_CSS, "app.js": APP_JS, "server.py": "def (:\n"},
               fixes={"server.py": server})
    client = client_for(forge_caller.user)
    build_id = _start(client, config={"stack": "static-api"})["session_id"]
    build = Build.objects.get(pk=build_id)
    assert build.status == "completed", build.error
    fixed = BuildFile.objects.get(build=build, path="server.py")
    assert fixed.fixed and fixed.content == server
    assert "server.py" not in build.deployment.files  # in the zip, never served
    download = client.get(f"/api/v1/forge/builds/{build_id}/download")
    assert "todo-lite/server.py" in zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))).namelist()
