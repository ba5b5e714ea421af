"""Knowledge dashboard pages: server-rendered checks, and the whole flow in headless Chromium."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from apps.knowledge import services
from apps.knowledge.models import Document, Repository
from tests.conftest import WorkerStart
from tests.factories import UserFactory
from tests.knowledge import files


@pytest.fixture
def page_client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_pages_render_and_create_a_repository(page_client: Client, user: Any, media_root: Path) -> None:
    listing = page_client.get("/knowledge/")
    assert listing.status_code == 200 and b"New repository" in listing.content
    assert b'href="/knowledge/"' in listing.content  # the nav entry
    created = page_client.post("/knowledge/", {"name": "Manuals", "description": "How-tos"})
    repository = Repository.objects.get(owner=user, name="Manuals")
    assert created.status_code == 302 and created["Location"] == f"/knowledge/{repository.pk}/"
    detail = page_client.get(f"/knowledge/{repository.pk}/")
    assert detail.status_code == 200 and b'data-testid="dropzone"' in detail.content
    assert page_client.get("/knowledge/debugger/").status_code == 200


def test_another_users_repository_page_is_404(page_client: Client, other_repository: Repository) -> None:
    assert page_client.get(f"/knowledge/{other_repository.pk}/").status_code == 404
    page_client.post(f"/knowledge/{other_repository.pk}/delete/")
    assert Repository.objects.filter(pk=other_repository.pk).exists()
    debug = page_client.get("/knowledge/debugger/", {"q": "x", "repository": [str(other_repository.pk)]})
    assert debug.status_code == 200
    assert b"Not yours" not in debug.content and b'data-testid="debug-results"' not in debug.content


def test_debugger_shows_every_score(page_client: Client, user: Any, repository: Repository, run_on_commit: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    with run_on_commit():
        services.document_upload(
            user=user, repository=repository,
            upload=SimpleUploadedFile("solar.txt", b"Solar panels convert sunlight into electricity."),
        )
    page = page_client.get("/knowledge/debugger/", {"q": "solar electricity", "mode": "hybrid", "limit": 5})
    html = page.content.decode()
    assert 'data-testid="debug-results"' in html and "solar.txt" in html
    assert "rank 1" in html  # vector rank and keyword rank are both shown


def test_anonymous_visitors_are_sent_to_login(client: Client, db: Any) -> None:
    response = client.get("/knowledge/")
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.browser
@pytest.mark.live
@pytest.mark.worker
def test_knowledge_pages_in_a_browser(browser_page: Any, worker_start: WorkerStart) -> None:
    from apps.accounts.seeds import seed

    page = browser_page.page
    seed()  # the database may have been flushed by an earlier live test
    user = UserFactory(email="reader@example.com")
    worker_start(queues="ingest", concurrency=2)
    browser_page.login(user.email)

    page.click("nav >> text=Knowledge")
    page.wait_for_url(re.compile(r"/knowledge/$"))
    page.fill("#id_name", "Energy notes")
    page.click("button:has-text('Create repository')")
    page.wait_for_url(re.compile(r"/knowledge/[0-9a-f-]+/$"))

    # Choose files through the picker ...
    page.set_input_files(
        "#file-input",
        files=[
            {"name": "solar.pdf", "mimeType": "application/pdf", "buffer": files.make_pdf(["Solar panels convert sunlight into electricity."])},
            {"name": "photo.gif", "mimeType": "image/gif", "buffer": files.GIF_BYTES},
            {"name": "locked.pdf", "mimeType": "application/pdf", "buffer": files.make_encrypted_pdf("secret")},
        ],
    )
    # ... and drop one onto the drop zone.
    page.evaluate(
        """() => {
            const dt = new DataTransfer();
            dt.items.add(new File(["Wind turbines turn moving air into power."], "wind.md", {type: "text/markdown"}));
            document.getElementById("dropzone").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
        }"""
    )
    page.wait_for_function(
        "() => document.querySelectorAll('#documents .badge-ready').length === 2 && document.querySelectorAll('#documents .badge-failed').length === 2",
        timeout=120_000,
    )
    body = page.inner_text("#documents")
    assert "not supported" in body or "not a supported" in body  # the GIF, refused before storage
    assert "encrypted" in body  # the PDF, failed in ingestion with its reason
    assert Document.objects.filter(status="ready").count() == 2
    browser_page.check_page("knowledge-repository")
    browser_page.assert_fits_phone()

    page.click("nav >> text=Retrieval debugger")
    page.fill("#id_q", "how is electricity made from sunlight")
    page.click("button:has-text('Search')")
    page.wait_for_selector("[data-testid=debug-results]")
    first_row = page.inner_text("[data-testid=debug-results] tbody tr:first-child")
    assert "solar.pdf" in first_row and "page 1" in first_row
    browser_page.check_page("knowledge-debugger")
    browser_page.assert_fits_phone()
