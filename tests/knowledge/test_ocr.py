"""Scanned documents: text rendered with Pillow into an image and into an image-only PDF is read with OCR and found by search."""
from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageDraw, ImageFont
from rest_framework.test import APIClient

from apps.knowledge.extraction import Limits, extract_in_subprocess
from apps.knowledge.models import Chunk, Repository

IMAGE_TYPES = ["pdf", "docx", "txt", "md", "html", "csv", "json", "png", "jpeg", "webp"]


def _scan(lines: list[str]) -> Image.Image:
    """A white page with black text, as a scanner would give it."""
    image = Image.new("RGB", (1000, 120 + 90 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=48)
    for index, line in enumerate(lines):
        draw.text((40, 60 + 90 * index), line, fill="black", font=font)
    return image


def _encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _upload(client: APIClient, repository: Repository, name: str, data: bytes) -> Any:
    return client.post(f"/api/v1/knowledge/{repository.id}/documents", {"file": SimpleUploadedFile(name, data)}, format="multipart")


@pytest.fixture
def images_allowed(settings: Any) -> None:
    settings.KNOWLEDGE_ALLOWED_TYPES = IMAGE_TYPES


@pytest.mark.parametrize(("name", "fmt"), [("scan.png", "PNG"), ("scan.jpg", "JPEG"), ("scan.webp", "WEBP")])
def test_an_image_is_read_with_ocr_and_found_by_search(name: str, fmt: str, auth_client: APIClient, repository: Repository,
                                                      run_on_commit: Any, images_allowed: None) -> None:
    data = _encoded(_scan(["Photosynthesis converts sunlight", "into chemical energy"]), fmt)
    with run_on_commit():
        response = _upload(auth_client, repository, name, data)
    assert response.status_code == 202, response.json()
    document = auth_client.get(f"/api/v1/documents/{response.json()['document_id']}").json()
    assert document["status"] == "ready" and document["progress"] == 100, document["error"]
    assert document["content_type"].startswith("image/")
    hits = auth_client.post("/api/v1/knowledge/search", {"query": "photosynthesis sunlight", "repository_ids": [str(repository.id)]},
                            format="json").json()["results"]
    assert hits and hits[0]["document_id"] == document["id"]
    assert "Photosynthesis" in hits[0]["content"] and hits[0]["metadata"]["ocr"] is True


def test_an_image_only_pdf_is_read_page_by_page(auth_client: APIClient, repository: Repository, run_on_commit: Any) -> None:
    pages = [_scan(["Glaciers carve deep valleys"]), _scan(["Volcanoes build new islands"])]
    data = _encoded(pages[0], "PDF", save_all=True, append_images=pages[1:], resolution=100)
    # Progress comes page by page from the extraction process.
    events: list[dict[str, Any]] = []
    sections = extract_in_subprocess("pdf", data, Limits(), on_report=events.append)
    assert [e for e in events if "pages" in e] == [{"page": 1, "pages": 2}, {"page": 2, "pages": 2}]
    assert [(s["page"], s["ocr"]) for s in sections] == [(1, True), (2, True)]

    with run_on_commit():
        response = _upload(auth_client, repository, "scanned.pdf", data)
    assert response.status_code == 202
    document_id = response.json()["document_id"]
    assert auth_client.get(f"/api/v1/documents/{document_id}").json()["status"] == "ready"
    chunks = list(Chunk.objects.filter(document_id=document_id).order_by("position"))
    assert chunks and all(chunk.metadata.get("ocr") is True for chunk in chunks)
    hits = auth_client.post("/api/v1/knowledge/search", {"query": "volcanoes islands", "repository_ids": [str(repository.id)],
                                                         "mode": "keyword"}, format="json").json()["results"]
    assert hits and "Volcanoes" in hits[0]["content"] and hits[0]["metadata"]["page"] == 2 and hits[0]["metadata"]["ocr"] is True


def test_a_pdf_with_a_text_layer_is_not_ocred(auth_client: APIClient, repository: Repository, run_on_commit: Any) -> None:
    from tests.knowledge import files

    sections = extract_in_subprocess("pdf", files.make_pdf(["Solar panels convert sunlight."]), Limits())
    assert sections == [{"text": sections[0]["text"], "page": 1, "heading": None}] and "Solar" in sections[0]["text"]


def test_images_are_accepted_by_default_and_refused_when_the_list_leaves_them_out(auth_client: APIClient, repository: Repository,
                                                                                   settings: Any) -> None:
    assert _upload(auth_client, repository, "scan.png", _encoded(_scan(["Hello"]), "PNG")).status_code == 202
    settings.KNOWLEDGE_ALLOWED_TYPES = ["pdf", "txt"]
    response = _upload(auth_client, repository, "scan2.png", _encoded(_scan(["Hello"]), "PNG"))
    assert response.status_code == 415
