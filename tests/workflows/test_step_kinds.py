"""The step kinds that call out: `http` (through the outbound guard), `architect` (a published chain) and
`agent_task` (an A2A task), on a real worker that serves only the workflows queues: the chain and the
task run inside the step, so a step never waits on a queue nobody serves."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from apps.agents.models import Task
from apps.architect.models import Execution
from apps.billing.models import CreditTransaction
from apps.billing.selectors import balance_for
from apps.workflows.models import Run
from tests.agents.conftest import agent_body, fake_agent, fake_agent_server  # noqa: F401  (fixtures)
from tests.architect.conftest import chain_body
from tests.chat.conftest import make_caller
from tests.conftest import WorkerProcess, WorkerStart
from tests.llm.conftest import committed_db  # noqa: F401  (fixture)

from .conftest import client_for, create
from .test_worker import _ended, _execute, _steps, _wait

pytestmark = [pytest.mark.worker]
MODEL = "fake-openai"


class _Site(BaseHTTPRequestHandler):
    """A loopback site: /json echoes the request, /big is 2 MB, /flaky answers 503, /teapot 418."""

    hits: list[dict[str, Any]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        _Site.hits.append({"method": self.command, "path": self.path, "body": body, "header": self.headers.get("x-flow")})
        if self.path.startswith("/json"):
            payload = json.dumps({"method": self.command, "got": json.loads(body) if body else None}).encode()
            self._send(200, payload, "application/json")
        elif self.path == "/big":
            self._send(200, b"x" * (2 * 1024 * 1024), "text/plain")
        elif self.path == "/flaky":
            self._send(503, b"try later", "text/plain")
        else:
            self._send(418, b"I am a teapot", "text/plain")

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def site() -> Iterator[str]:
    """A loopback HTTP site for http steps."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    _Site.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture
def open_worker(fake_models: Any, worker_start: WorkerStart, settings: Any) -> WorkerProcess:
    """A workflows worker that may call loopback (ALLOWED_PRIVATE_NETWORKS), as the test's sites live there."""
    settings.ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    return worker_start(queues="default,workflows", ALLOWED_PRIVATE_NETWORKS="127.0.0.0/8", WORKFLOWS_HTTP_MAX_BYTES="1048576")


def test_http_steps_call_through_the_guard_parse_json_cap_the_size_and_retry_server_errors(site: str, open_worker: WorkerProcess) -> None:
    caller = make_caller()
    client = client_for(caller.user)
    workflow = create(client, [
        {"name": "post", "kind": "http", "config": {"method": "POST", "url": f"{site}/json", "headers": {"x-flow": "{{input.tag}}"},
                                                    "body": {"n": "{{input.n}}"}}},
        {"name": "echo", "kind": "http", "config": {"method": "GET", "url": f"{site}/json?m={{{{steps.post.output}}}}"}, "depends_on": [0]},
        {"name": "big", "kind": "http", "config": {"method": "GET", "url": f"{site}/big"}},
        {"name": "flaky", "kind": "http", "config": {"method": "GET", "url": f"{site}/flaky"},
         "retry_policy": {"max_retries": 1, "backoff_ms": 10}},
        {"name": "teapot", "kind": "http", "config": {"method": "GET", "url": f"{site}/teapot"},
         "retry_policy": {"max_retries": 3, "backoff_ms": 10}},
    ]).json()
    run = _ended(_execute(client, workflow["id"], {"n": 7, "tag": "blue"}), open_worker)
    steps = _steps(str(run.pk))
    post = steps["post"][0]
    assert post.status == "completed", (post.error, open_worker.log())
    assert post.output["status"] == 200 and post.output["body"] == {"method": "POST", "got": {"n": 7}}
    assert post.output["headers"]["content-type"] == "application/json"
    assert {"method": "POST", "path": "/json", "body": '{"n": 7}', "header": "blue"} in _Site.hits
    assert steps["echo"][0].status == "completed" and steps["echo"][0].output["body"]["method"] == "GET"
    # More than the 1 MB cap: failed without retry, and nothing of the body kept.
    assert [s.status for s in steps["big"]] == ["failed"] and steps["big"][0].error["code"] == "RESPONSE_TOO_LARGE"
    # A 503 is retried by the policy; a 418 is the request's own fault and is not.
    assert [s.status for s in steps["flaky"]] == ["failed", "failed"] and steps["flaky"][1].error["code"] == "HTTP_ERROR"
    assert "503" in steps["flaky"][1].error["message"]
    assert [s.status for s in steps["teapot"]] == ["failed"] and "418" in steps["teapot"][0].error["message"]
    assert run.status == "failed"


def test_http_steps_to_private_addresses_are_refused_on_save_and_at_call_time(flow_worker: WorkerProcess) -> None:
    caller = make_caller()
    client = client_for(caller.user)
    refused = create(client, [{"name": "peek", "kind": "http", "config": {"method": "GET", "url": "http://127.0.0.1:6379/"}}])
    assert refused.status_code == 400
    assert "steps.0.config.url" in refused.json()["error"]["details"]
    # A URL from the run's input can only be checked when it is called (the worker allows no private network).
    workflow = create(client, [{"name": "peek", "kind": "http", "config": {"method": "GET", "url": "{{input.url}}"}}]).json()
    run = _ended(_execute(client, workflow["id"], {"url": "http://169.254.169.254/latest/meta-data/"}), flow_worker)
    peek = _steps(str(run.pk))["peek"]
    assert [s.status for s in peek] == ["failed"] and peek[0].error["code"] == "URL_REFUSED", peek[0].error
    assert run.status == "failed"


def test_an_architect_step_runs_a_published_chain_once_and_counts_its_cost(fake_llm: Any, open_worker: WorkerProcess) -> None:
    caller, stranger = make_caller(), make_caller()
    chain = client_for(caller.user).post("/api/v1/architect/tools", chain_body(), format="json")
    assert chain.status_code == 201, chain.content
    draft = client_for(stranger.user).post("/api/v1/architect/tools", chain_body(status="draft"), format="json").json()
    client = client_for(caller.user)
    workflow = create(client, [
        {"name": "chain", "kind": "architect", "config": {"tool_id": chain.json()["id"], "inputs": {"topic": "{{input.topic}}"}}},
        {"name": "theirs", "kind": "architect", "config": {"tool_id": draft["id"], "inputs": {"topic": "x"}}},
    ]).json()
    run = _ended(_execute(client, workflow["id"], {"topic": "owls"}), open_worker)
    steps = _steps(str(run.pk))
    step = steps["chain"][0]
    assert step.status == "completed", (step.error, open_worker.log())
    execution = Execution.objects.get(owner=caller.user)
    assert step.external_ref == f"architect:{execution.pk}"
    assert execution.status == "completed" and execution.inputs == {"topic": "owls"}
    # The step's output is the chain's last position (the `joined` prompt), as the execution recorded it.
    joined = execution.results.get(name="joined")
    assert joined.output and step.output == joined.output
    assert execution.cost > 0 and step.cost == execution.cost and step.tokens == execution.total_tokens
    # Charged once, by the chain itself, with its own references.
    charged = CreditTransaction.objects.filter(account__user=caller.user, type="usage")
    assert -sum((t.amount for t in charged), Decimal(0)) == execution.cost
    assert {t.reference.split(":")[0] for t in charged} == {"architect"}
    # Another user's draft is not found (not run, not charged).
    assert steps["theirs"][0].status == "failed" and steps["theirs"][0].error["code"] == "NOT_FOUND"
    assert Execution.objects.count() == 1
    assert run.status == "failed" and run.cost == execution.cost


def test_an_agent_task_step_sends_an_a2a_task_and_pays_the_agent_once(fake_agent: Any, open_worker: WorkerProcess) -> None:  # noqa: F811
    owner, caller = make_caller(), make_caller()
    agent = client_for(owner.user).post("/api/v1/agents", agent_body(fake_agent.url), format="json")
    assert agent.status_code == 201, agent.content
    before = Decimal(balance_for(user=caller.user)["available"])
    client = client_for(caller.user)
    workflow = create(client, [
        {"name": "ask", "kind": "agent_task", "config": {"agent_id": agent.json()["id"], "input": "Summarize {{input.topic}}"}},
        {"name": "asks_back", "kind": "agent_task", "config": {"agent_id": agent.json()["id"], "input": "Clarify #input"}},
    ]).json()
    run = _ended(_execute(client, workflow["id"], {"topic": "owls"}), open_worker)
    steps = _steps(str(run.pk))
    ask = steps["ask"][0]
    assert ask.status == "completed", (ask.error, open_worker.log())
    task = Task.objects.get(pk=ask.external_ref.split(":", 1)[1])
    assert task.status == "completed" and task.requester_id == caller.user.pk
    assert ask.output["status"] == "completed" and "Finished: Summarize owls" in ask.output["text"]
    assert ask.output["artifacts"][0]["name"] == "result"
    assert ask.cost == Decimal("5")
    # A task that needs a reply cannot get one from a workflow: the step fails, the task is cancelled, nothing paid.
    asks_back = steps["asks_back"][0]
    assert asks_back.status == "failed" and asks_back.error["code"] == "AGENT_INPUT_REQUIRED"
    assert Task.objects.get(pk=asks_back.external_ref.split(":", 1)[1]).status == "cancelled"
    after = Decimal(balance_for(user=caller.user)["available"])
    assert before - after == Decimal("5")
    assert run.cost == Decimal("5") and run.status == "failed"
    assert Run.objects.filter(pk=run.pk, status="failed").exists()


def test_cancelling_a_run_cancels_the_agent_task_its_step_is_waiting_for(fake_agent: Any, open_worker: WorkerProcess) -> None:  # noqa: F811
    owner, caller = make_caller(), make_caller()
    agent = client_for(owner.user).post("/api/v1/agents", agent_body(fake_agent.url), format="json").json()
    before = Decimal(balance_for(user=caller.user)["available"])
    client = client_for(caller.user)
    workflow = create(client, [{"name": "wait", "kind": "agent_task", "config": {"agent_id": agent["id"], "input": "Take forever #hang"}}]).json()
    run_id = _execute(client, workflow["id"])
    task = _wait(lambda: Task.objects.filter(requester=caller.user, status="working").first())
    answer = client.post(f"/api/v1/runs/{run_id}/cancel")
    assert answer.status_code == 200, answer.content
    run = _ended(run_id, open_worker)
    assert run.status == "cancelled"
    _wait(lambda: Task.objects.filter(pk=task.pk, status="cancelled").exists(), timeout=30)
    # The escrowed price went back: nothing paid for a task that never ended.
    assert Decimal(balance_for(user=caller.user)["available"]) == before


def test_a_redelivered_attempt_follows_what_its_dead_worker_started(committed_db: None) -> None:  # noqa: F811
    from asgiref.sync import async_to_sync

    from apps.workflows.models import StepRun
    from apps.workflows.services import workflow_create
    from apps.workflows.steps import _external_begin

    caller = make_caller()
    workflow, _secret = workflow_create(user=caller.user, name="Flow", steps=[
        {"name": "a", "kind": "condition", "config": {"expression": "true"}}])
    run = Run.objects.create(workflow=workflow, user=caller.user, version=workflow.version, steps=workflow.steps, input={})
    attempt = StepRun.objects.create(run=run, index=0, name="a", kind="condition", attempt=1)
    started: list[str] = []

    def start() -> str:
        started.append("x")
        return f"job-{len(started)}"

    first = async_to_sync(_external_begin)(attempt.pk, "architect", start)
    again = async_to_sync(_external_begin)(attempt.pk, "architect", start)
    assert first == again == "job-1" and started == ["x"]
    assert StepRun.objects.get(pk=attempt.pk).external_ref == "architect:job-1"
