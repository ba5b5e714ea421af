"""Ingestion through a real Celery worker on the real broker, and recovery from a worker killed mid-document."""
from __future__ import annotations

import signal
import time
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apps.knowledge import services
from apps.knowledge.models import Chunk, Document
from tests.conftest import WorkerStart, stop_process
from tests.factories import UserFactory
from tests.knowledge import files

pytestmark = pytest.mark.worker


def _wait_for(document_ids: list[str], statuses: set[str], *, worker: Any, deadline_s: float = 180) -> dict[str, Document]:
    """Poll the database until every document is in one of `statuses` (the deadline only bounds a broken run)."""
    deadline = time.monotonic() + deadline_s
    while True:
        documents = {str(d.pk): d for d in Document.objects.filter(pk__in=document_ids)}
        if all(d.status in statuses for d in documents.values()):
            return documents
        if time.monotonic() > deadline:
            raise AssertionError(f"documents did not finish: {[(d.filename, d.status, d.progress) for d in documents.values()]}\n{worker.log()}")
        time.sleep(0.2)


def _committed_user() -> Any:
    """A user created in a transaction of its own: tests on a flushed database must seed the tiers first."""
    from apps.accounts.seeds import seed

    seed()
    return UserFactory()


def test_every_file_type_through_a_real_worker(celery_worker: Any) -> None:
    user = _committed_user()
    client = APIClient()
    client.force_authenticate(user)
    repository = services.repository_create(user=user, name="worker")
    samples = {
        "guide.pdf": files.make_pdf(["Wind turbines turn kinetic energy into electricity."]),
        "notes.docx": files.make_docx([("h1", "Onboarding"), ("p", "New hires receive a laptop on day one.")]),
        "plain.txt": files.SAMPLE_TXT,
        "handbook.md": files.SAMPLE_MD,
        "garden.html": files.SAMPLE_HTML,
        "cities.csv": files.SAMPLE_CSV,
        "product.json": files.SAMPLE_JSON,
        "bomb.docx": files.make_zip_bomb_docx(300),
        "deep.html": files.make_nested_html(50_000),
    }
    ids: dict[str, str] = {}
    for name, data in samples.items():
        response = client.post(
            f"/api/v1/knowledge/{repository.id}/documents", {"file": SimpleUploadedFile(name, data)}, format="multipart"
        )
        assert response.status_code == 202, response.content
        ids[name] = response.json()["document_id"]

    documents = _wait_for(list(ids.values()), {"ready", "failed"}, worker=celery_worker)
    by_name = {d.filename: d for d in documents.values()}
    for name in ("guide.pdf", "notes.docx", "plain.txt", "handbook.md", "garden.html", "cities.csv", "product.json"):
        assert by_name[name].status == "ready", (name, by_name[name].error)
        assert by_name[name].chunk_count == Chunk.objects.filter(document=by_name[name]).count() >= 1
    assert by_name["bomb.docx"].status == "failed" and "zip bomb" in by_name["bomb.docx"].error
    assert by_name["deep.html"].status == "failed" and "nested" in by_name["deep.html"].error
    hits = client.post("/api/v1/knowledge/search", {"query": "wind turbine energy"}, format="json").json()["results"]
    assert hits[0]["document_id"] == ids["guide.pdf"]
    # The worker is still alive and serving after the hostile files.
    assert celery_worker.process.poll() is None


def test_a_worker_killed_mid_document_is_reaped_and_the_document_finishes(worker_start: WorkerStart, settings) -> None:  # type: ignore[no-untyped-def]
    user = _committed_user()
    repository = services.repository_create(user=user, name="killed")
    text = " ".join(f"Paragraph {i} talks about topic {i % 97} in some detail." for i in range(4_000)).encode()
    worker = worker_start(queues="ingest", concurrency=1)
    client = APIClient()
    client.force_authenticate(user)
    response = client.post(
        f"/api/v1/knowledge/{repository.id}/documents", {"file": SimpleUploadedFile("long.txt", text)}, format="multipart"
    )
    document_id = response.json()["document_id"]
    _wait_for([document_id], {"processing", "ready", "failed"}, worker=worker)
    stop_process(worker.process, sig=signal.SIGKILL)
    document = Document.objects.get(pk=document_id)
    assert document.status == "processing", "the document finished before the worker could be killed"

    # Nothing moves it while its heartbeat is fresh ...
    assert services.documents_reap_stuck() == 0
    # ... and once it is stale, the beat reaper puts it back on the queue for another worker.
    settings.KNOWLEDGE_INGEST_STALE_SECONDS = 0
    assert services.documents_reap_stuck() == 1
    assert Document.objects.get(pk=document_id).status == "pending"
    worker = worker_start(queues="ingest", concurrency=1)
    document = _wait_for([document_id], {"ready", "failed"}, worker=worker)[document_id]
    assert document.status == "ready", document.error
    assert document.attempts == 2
    positions = list(Chunk.objects.filter(document_id=document_id).values_list("position", flat=True))
    assert len(positions) == len(set(positions)) == document.chunk_count


def test_the_reaper_gives_up_after_the_attempt_limit(user: Any, repository: Any, settings) -> None:  # type: ignore[no-untyped-def]
    settings.KNOWLEDGE_INGEST_STALE_SECONDS = 0
    settings.KNOWLEDGE_INGEST_MAX_ATTEMPTS = 2
    document = Document.objects.create(
        repository=repository, filename="x.txt", content_type="text/plain", size=1, file_key="k", status="processing", attempts=2
    )
    assert services.documents_reap_stuck() == 1
    document.refresh_from_db()
    assert document.status == "failed" and "giving up" in document.error


def test_the_reaper_is_on_the_beat_schedule(settings) -> None:  # type: ignore[no-untyped-def]
    from config.celery_app import app

    app.finalize()  # beat's schedule is what the installed apps declare (apps.core.registry)
    entry = app.conf.beat_schedule["knowledge-reap-stuck-documents"]
    assert entry["task"] == "apps.knowledge.tasks.document_reap_stuck"

    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
