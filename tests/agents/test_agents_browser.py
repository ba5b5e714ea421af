"""The agents pages in headless Chromium: search the marketplace, open an agent, send a task, follow it live in
the task console (input-required, reply, completed), rate it, and see the trust chart."""
from __future__ import annotations

import re
from typing import Any

import pytest

from apps.agents import services
from apps.agents.models import Task
from tests.conftest import WorkerProcess, WorkerStart
from tests.factories import UserFactory
from tests.llm.conftest import committed_db  # noqa: F401  (fixture)

from .conftest import agent_body

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.worker, pytest.mark.timeout(180)]


@pytest.fixture
def agents_worker(committed_db: None, worker_start: WorkerStart) -> WorkerProcess:  # noqa: F811
    """A worker on the agents queue that may call the loopback fake agent."""
    return worker_start(queues="agents", concurrency=1, ALLOWED_PRIVATE_NETWORKS="127.0.0.0/8")


def test_marketplace_and_task_console(fake_agent: Any, agents_worker: WorkerProcess, browser_page: Any) -> None:
    owner = UserFactory()
    summarizer = services.agent_create(user=owner, data=agent_body(fake_agent.url))
    services.agent_create(user=owner, data=agent_body(fake_agent.url, name="Code reviewer", description="Reviews pull requests.",
                                                      category="code", skills=[{"id": "review", "name": "Review", "tags": ["python"]}]))
    services.agent_heartbeat(agent=summarizer)
    user = UserFactory(email="agents@example.com")
    page = browser_page.page
    browser_page.login(user.email)

    page.click("nav >> text=Agents")
    page.wait_for_url(re.compile(r"/agents/$"))
    page.wait_for_selector("#marketplace[data-ready='1']")
    assert page.locator(".ag-card").count() == 2
    page.fill("#f-q", "summarize documents")
    page.click("#discover-form button[type=submit]")
    page.wait_for_function("document.querySelectorAll('.ag-card').length === 1")
    card = page.locator(".ag-card").first
    assert "Summarizer" in card.inner_text() and "trust" in card.locator(".trust-badge").inner_text()
    assert "online" in card.inner_text()
    browser_page.check_page("agents-marketplace")

    card.locator("h3 a").click()
    page.wait_for_url(re.compile(r"/agents/[0-9a-f-]+/$"))
    page.wait_for_selector("#trust-chart[data-points]")
    assert "summarize" in page.locator("#skills").inner_text()
    page.fill("#task-title", "Translate a note")
    page.fill("#task-description", "Translate this note #input")
    # The console's first read of the task is held until the stream has moved the task on, then answered with
    # the state from before: a read that comes back late must not set the console back to an older status.
    task_read = re.compile(r"/api/v1/tasks/[0-9a-f-]+$")
    held: list[Any] = []
    page.route(task_read, lambda route: held.append(route))
    page.click("#send-task")
    page.wait_for_url(re.compile(r"/agents/tasks/[0-9a-f-]+/$"))
    page.wait_for_selector("#task-console[data-status='input-required']", timeout=60_000)
    assert len(held) == 1
    held[0].fulfill(json={"id": page.url.rstrip("/").rsplit("/", 1)[-1], "status": "working", "error": None, "artifacts": [],
                          "rating": None, "messages": [{"id": "read-late", "role": "user", "parts": [{"kind": "text", "text": "read late"}]}]})
    page.unroute(task_read)
    page.wait_for_function("document.getElementById('task-messages').textContent.includes('read late')")
    assert page.locator("#task-console").get_attribute("data-status") == "input-required"
    assert "Which language should I answer in?" in page.locator("#task-messages").inner_text()
    browser_page.screenshot("agents-task-console-input-required")
    page.fill("#reply-text", "French")
    page.click("#send-reply")
    page.wait_for_selector("#task-console[data-complete='1'][data-status='completed']", timeout=60_000)
    assert "Done: French" in page.locator("#task-artifacts").inner_text()
    events = page.locator("#task-events li").all_inner_texts()
    assert events[-1] == "complete completed" and "status input-required" in events
    page.select_option("#rate-value", "4")
    page.click("#send-rating")
    page.wait_for_function("document.getElementById('rate-result').textContent.includes('rated 4/5')")
    browser_page.check_page("agents-task-console-completed")
    browser_page.assert_fits_phone()

    task = Task.objects.get(requester=user)
    assert task.status == "completed" and task.rating.rating == 4
    page.click(f"text={summarizer.name}")
    page.wait_for_selector("#trust-chart[data-points]")
    assert int(page.locator("#trust-chart").get_attribute("data-points") or 0) >= 3  # registered, completed, rated
    browser_page.check_page("agents-agent-page")
    browser_page.assert_fits_phone()


@pytest.fixture
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The daphne started after this fixture may register agents on loopback (the fake lives there); 10.0.0.0/8 stays refused."""
    monkeypatch.setenv("ALLOWED_PRIVATE_NETWORKS", "127.0.0.0/8")


def test_register_and_edit_an_agent(committed_db: None, fake_agent: Any, loopback_allowed: None, browser_page: Any) -> None:  # noqa: F811
    user = UserFactory(email="builder@example.com")
    page = browser_page.page
    browser_page.login(user.email)
    browser_page.goto("/agents/")
    page.click("#register-agent")
    page.wait_for_url(re.compile(r"/agents/new/$"))
    browser_page.check_page("agents-register-form")
    page.fill("#a-name", "Poet")
    page.fill("#a-description", "Writes short poems.")
    page.fill("#a-endpoint", "http://10.0.0.1/a2a")
    page.fill("#a-price", "2")
    page.fill("#a-skills", '[{"id": "poem", "name": "Poem", "tags": ["writing"], "input_schema": {"type": "object"}}]')
    page.click("#save-agent")
    page.wait_for_function("document.querySelector('.field-error[data-field=endpoint]').textContent.length > 0")
    assert "non-public address" in page.locator(".field-error[data-field=endpoint]").inner_text()
    browser_page.screenshot("agents-register-refused-endpoint")
    page.fill("#a-endpoint", fake_agent.url)
    page.click("#save-agent")
    page.wait_for_url(re.compile(r"/agents/[0-9a-f-]+/$"))
    assert "Poem" in page.locator("#skills").inner_text()
    page.click("#edit-agent")
    page.wait_for_url(re.compile(r"/agents/[0-9a-f-]+/edit/$"))
    page.fill("#a-name", "Poet laureate")
    page.click("#save-agent")
    page.wait_for_url(re.compile(r"/agents/[0-9a-f-]+/$"))
    assert page.locator("h1").inner_text() == "Poet laureate"
    browser_page.check_page("agents-registered")
    from apps.agents.models import Agent

    agent = Agent.objects.get(owner=user)
    assert agent.name == "Poet laureate" and agent.endpoint == fake_agent.url and [s.skill_id for s in agent.skills.all()] == ["poem"]
