"""SDK calls that need a real Celery worker: Forge progress over the WebSocket, knowledge ingestion then search."""
from __future__ import annotations

import asyncio
import io
import time
import zipfile
from typing import Any

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
