"""Uploads through S3 (moto in server mode on loopback): presigned POST, confirm, storage, delete."""
from __future__ import annotations

from typing import Any

import httpx
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apps.knowledge.models import Chunk, Document, Repository
from tests.fakes.s3 import FakeS3
from tests.knowledge import files


def _upload_url(client: APIClient, repository: Repository, name: str, content_type: str, size: int) -> Any:
    return client.post(
        "/api/v1/documents/upload-url",
        {"file_name": name, "file_type": content_type, "file_size": size, "repository_id": str(repository.id)},
        format="json",
    )


def _post_to_s3(answer: dict[str, Any], data: bytes, content_type: str) -> httpx.Response:
    """What the browser does: a multipart form POST of the policy fields and the file, straight to S3."""
    return httpx.post(answer["presigned_url"], data=answer["fields"], files={"file": ("upload", data, content_type)}, timeout=10)


def _keys(s3: FakeS3, bucket: str) -> list[str]:
    return [item["Key"] for item in s3.client().list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_presigned_upload_confirm_ingest_download_delete(
    s3: FakeS3, settings, auth_client: APIClient, repository: Repository, run_on_commit: Any  # type: ignore[no-untyped-def]
) -> None:
    data = files.make_pdf(["Presigned uploads go straight to the bucket.", "The API never sees the bytes."])
    answer = _upload_url(auth_client, repository, "direct.pdf", "application/pdf", len(data))
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["presigned_url"].startswith(s3.endpoint_url)
    assert body["fields"]["key"] == body["file_key"] and body["fields"]["Content-Type"] == "application/pdf"
    assert "policy" in body["fields"]
    posted = _post_to_s3(body, data, "application/pdf")
    assert posted.status_code in (200, 201, 204), posted.text

    with run_on_commit():
        confirmed = auth_client.post(
            "/api/v1/documents/confirm",
            {"file_key": body["file_key"], "file_name": "direct.pdf", "file_type": "application/pdf", "repository_id": str(repository.id)},
            format="json",
        )
    assert confirmed.status_code == 202, confirmed.content
    document_id = confirmed.json()["document_id"]
    assert confirmed.json()["status"] == "pending"
    document = auth_client.get(f"/api/v1/documents/{document_id}").json()
    assert document["status"] == "ready" and document["chunk_count"] == 2, document
    assert sorted(Chunk.objects.filter(document_id=document_id).values_list("metadata__page", flat=True)) == [1, 2]

    # Confirming again is harmless: the same document.
    again = auth_client.post("/api/v1/documents/confirm", {"file_key": body["file_key"], "repository_id": str(repository.id)}, format="json")
    assert again.status_code == 202 and again.json()["document_id"] == document_id

    download = auth_client.get(f"/api/v1/documents/{document_id}/download")
    assert b"".join(download.streaming_content) == data

    with run_on_commit():
        assert auth_client.delete(f"/api/v1/documents/{document_id}").status_code == 204
    assert body["file_key"] not in _keys(s3, settings.AWS_STORAGE_BUCKET_NAME)
    assert not Chunk.objects.filter(document_id=document_id).exists()


def test_multipart_upload_also_lands_in_the_bucket(s3: FakeS3, settings, auth_client: APIClient, repository: Repository, run_on_commit: Any) -> None:  # type: ignore[no-untyped-def]
    with run_on_commit():
        response = auth_client.post(
            f"/api/v1/knowledge/{repository.id}/documents",
            {"file": SimpleUploadedFile("notes.md", files.SAMPLE_MD, content_type="text/markdown")},
            format="multipart",
        )
    assert response.status_code == 202
    document = Document.objects.get(pk=response.json()["document_id"])
    assert document.status == "ready"
    assert document.file_key in _keys(s3, settings.AWS_STORAGE_BUCKET_NAME)


def test_confirm_refuses_content_that_is_not_what_it_claims(s3: FakeS3, settings, auth_client: APIClient, repository: Repository) -> None:  # type: ignore[no-untyped-def]
    body = _upload_url(auth_client, repository, "report.pdf", "application/pdf", len(files.PNG_BYTES)).json()
    assert _post_to_s3(body, files.PNG_BYTES, "application/pdf").status_code in (200, 201, 204)
    refused = auth_client.post("/api/v1/documents/confirm", {"file_key": body["file_key"], "repository_id": str(repository.id)}, format="json")
    assert refused.status_code == 415 and refused.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert body["file_key"] not in _keys(s3, settings.AWS_STORAGE_BUCKET_NAME)  # refused bytes are removed
    assert Document.objects.count() == 0


def test_confirm_checks_the_object_exists_and_its_size(s3: FakeS3, settings, auth_client: APIClient, repository: Repository) -> None:  # type: ignore[no-untyped-def]
    body = _upload_url(auth_client, repository, "a.txt", "text/plain", 20).json()
    missing = auth_client.post("/api/v1/documents/confirm", {"file_key": body["file_key"], "repository_id": str(repository.id)}, format="json")
    assert missing.status_code == 409 and missing.json()["error"]["code"] == "CONFLICT"
    # An object of another size than announced (put behind the policy's back) is refused.
    s3.client().put_object(Bucket=settings.AWS_STORAGE_BUCKET_NAME, Key=body["file_key"], Body=b"x" * 5, ContentType="text/plain")
    wrong = auth_client.post("/api/v1/documents/confirm", {"file_key": body["file_key"], "repository_id": str(repository.id)}, format="json")
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "VALIDATION_ERROR"


def test_upload_url_refuses_bad_types_and_sizes_up_front(s3: FakeS3, auth_client: APIClient, repository: Repository, settings) -> None:  # type: ignore[no-untyped-def]
    assert _upload_url(auth_client, repository, "photo.gif", "image/gif", 100).status_code == 415
    assert _upload_url(auth_client, repository, "big.pdf", "application/pdf", settings.KNOWLEDGE_MAX_UPLOAD_BYTES + 1).status_code == 413
    assert _upload_url(auth_client, repository, "blob", "application/octet-stream", 100).status_code == 400


def test_confirm_for_a_key_issued_to_someone_else_is_404(
    s3: FakeS3, auth_client: APIClient, repository: Repository, other_user: Any, other_repository: Repository
) -> None:
    owner = APIClient()
    owner.force_authenticate(other_user)
    body = _upload_url(owner, other_repository, "theirs.txt", "text/plain", len(files.SAMPLE_TXT)).json()
    assert _post_to_s3(body, files.SAMPLE_TXT, "text/plain").status_code in (200, 201, 204)
    # Another user, even naming a repository of their own, cannot claim the key.
    stolen = auth_client.post("/api/v1/documents/confirm", {"file_key": body["file_key"], "repository_id": str(repository.id)}, format="json")
    assert stolen.status_code == 404 and stolen.json()["error"]["code"] == "NOT_FOUND"
    made_up = auth_client.post("/api/v1/documents/confirm", {"file_key": "knowledge/x/y/z.txt", "repository_id": str(repository.id)}, format="json")
    assert made_up.status_code == 404
    assert Document.objects.count() == 0
