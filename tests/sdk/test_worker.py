"""SDK calls that need a real Celery worker: Forge progress over the WebSocket, knowledge ingestion then search."""
from __future__ import annotations

import asyncio
import io
import time
import zipfile
from typing import Any

import httpx
import pytest
from nexus_sdk import AsyncNexusClient, NexusClient, NotFound

from tests.forge.conftest import forge_caller, forge_model, script_app  # noqa: F401  (fixtures)

from .conftest import Caller

pytestmark = [pytest.mark.live, pytest.mark.worker]


async def test_forge_progress_as_an_async_iterator(forge_caller: Caller, forge_model: Any, daphne_server: Any,  # noqa: F811
                                                   celery_worker: Any) -> None:
    script_app(forge_model)
    async with AsyncNexusClient(daphne_server.url, forge_caller.key) as client:
        build = await client.forge.start(prompt="A to-do list #slow=0.01")
        assert build.status == "build_started" and build.session_id
        messages = [message async for message in client.forge.watch(build.session_id)]
        assert messages[0].type == "connected", messages[:3]
        assert messages[-1].type == "build_completed", (messages[-1], celery_worker.log())
        seqs = [m.seq for m in messages[1:]]
        assert seqs == list(range(1, len(seqs) + 1))
        assert any(m.type == "progress_update" for m in messages)
        finished = await client.forge.get(build.session_id)
        assert finished.status == "completed"
        assert [b.id async for b in client.forge.builds()] == [build.session_id]
        archive = zipfile.ZipFile(io.BytesIO(await client.forge.download(build.session_id)))
        assert "todo-lite/index.html" in archive.namelist()
        # Someone else's build is refused on the WebSocket with a typed error.
        from .conftest import make_caller

        other = await asyncio.to_thread(make_caller)
        async with AsyncNexusClient(daphne_server.url, other.key) as stranger:
            with pytest.raises(NotFound):
                [m async for m in stranger.forge.watch(build.session_id)]


def test_an_uploaded_text_is_ingested_and_found_by_search(caller: Caller, daphne_server: Any, celery_worker: Any) -> None:
    with NexusClient(daphne_server.url, caller.key) as client:
        repository = client.knowledge.create(name="Energy")
        uploaded = client.knowledge.upload(repository.id, file=b"Wind turbines turn kinetic energy into electricity.",
                                           filename="wind.txt")
        deadline = time.monotonic() + 120  # bounds a broken run only
        while (document := client.documents.get(uploaded.document_id)).status not in {"ready", "failed"}:
            assert time.monotonic() < deadline, celery_worker.log()
            time.sleep(0.2)
        assert document.status == "ready" and document.chunk_count >= 1
        hits = client.knowledge.search(query="wind turbines electricity", repository_ids=[repository.id]).results
        assert hits and hits[0].document_id == uploaded.document_id and "kinetic" in hits[0].content
        assert client.documents.reprocess(uploaded.document_id).status in {"pending", "processing", "ready"}


def test_a_workflow_run_followed_to_its_end_and_a_signed_webhook(caller: Caller, daphne_server: Any, worker_start: Any) -> None:
    """Define, execute and follow a run over SSE; then trigger it by a webhook signed with the SDK's helper."""
    from nexus_sdk.sections.workflows import Workflows

    worker = worker_start(queues="default,workflows")
    with NexusClient(daphne_server.url, caller.key) as client:
        steps = [
            {"name": "gate", "kind": "condition", "config": {"expression": "input.n > 1"}, "depends_on": []},
            {"name": "after", "kind": "condition", "config": {"expression": "true"}, "depends_on": [0]},
        ]
        workflow = client.workflows.create(name="Gate", steps=steps)
        secret = workflow.trigger_secret
        run = client.workflows.execute(workflow.id, input={"n": 2})
        events = list(client.runs.events(run.id))  # the stream ends with the run's final event
        assert events[-1].type == "run:completed", (events[-3:], worker.log())
        finished = client.runs.get(run.id)
        assert finished.status == "completed", (finished, worker.log())
        assert [r.id for r in client.workflows.runs(workflow.id)] == [run.id]
        # A webhook signed with the trigger secret starts a second run.
        header, body = Workflows.signature(secret, {"n": 5})
        # (Webhooks are called by other systems: plain HTTP with the SDK's signing helper.)
        triggered = httpx.post(f"{daphne_server.url}/api/v1/hooks/{workflow.id}", content=body,
                               headers={"X-Nexus-Signature": header, "Content-Type": "application/json"})
        assert triggered.status_code in {200, 202}, triggered.text
        assert len(list(client.workflows.runs(workflow.id))) == 2


def test_a_chain_executed_and_streamed_to_its_end(caller: Caller, daphne_server: Any, celery_worker: Any) -> None:
    """architect.execute streams the execution's events from the worker; the stored execution matches the last one."""
    from tests.architect.conftest import chain_body

    with NexusClient(daphne_server.url, caller.key) as client:
        tool = client.architect.create_tool(**chain_body(first="Hi {{topic}} #words=4", second="Bye {{topic}} #words=3"))
        events = list(client.architect.execute(tool_id=tool.id, inputs={"topic": "owls"}))
        types = [event.type for event in events]
        assert types[0] == "execution_started" and types[-1] == "execution_complete", (types, celery_worker.log())
        assert types.count("prompt_complete") == 3
        execution_id = events[0].data["execution_id"]
        assert client.architect.execution(execution_id).status == "completed"
        assert [e.id for e in client.architect.executions()] == [execution_id]
