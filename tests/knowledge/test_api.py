"""The knowledge API over HTTP: repositories, uploads of every type, documents, search, BOLA."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apps.knowledge import services
from apps.knowledge.models import Chunk, Document, Repository
from tests.factories import UserFactory, WorkspaceFactory
from tests.knowledge import files


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert body["error"]["code"] == code
    assert body["error"]["request_id"]
    return body


def _upload(client: APIClient, repository_id: Any, name: str, data: bytes, content_type: str = "application/octet-stream") -> Any:
    return client.post(
        f"/api/v1/knowledge/{repository_id}/documents",
        {"file": SimpleUploadedFile(name, data, content_type=content_type)},
        format="multipart",
    )


def _stored_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


# ------------------------------------------------------------------------------ repositories
def test_repository_crud_and_counts(auth_client: APIClient, media_root: Path) -> None:
    created = auth_client.post("/api/v1/knowledge", {"name": " Handbook ", "description": "Team docs"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["name"] == "Handbook" and body["document_count"] == 0 and body["chunk_count"] == 0
    assert body["workspace_id"] is None
    rid = body["id"]
    listed = auth_client.get("/api/v1/knowledge").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == rid
    patched = auth_client.patch(f"/api/v1/knowledge/{rid}", {"name": "Renamed"}, format="json")
    assert patched.json()["name"] == "Renamed" and patched.json()["description"] == "Team docs"
    _error(auth_client.post("/api/v1/knowledge", {"name": "  "}, format="json"), 400, "VALIDATION_ERROR")
    assert auth_client.delete(f"/api/v1/knowledge/{rid}").status_code == 204
    _error(auth_client.get(f"/api/v1/knowledge/{rid}"), 404, "NOT_FOUND")


def test_every_file_type_is_ingested_end_to_end(auth_client: APIClient, repository: Repository, run_on_commit: Any) -> None:
    samples = {
        "guide.pdf": files.make_pdf(["Solar panels convert sunlight into electricity.", "Inverters turn DC into AC power."]),
        "notes.docx": files.make_docx([("h1", "Onboarding"), ("p", "New hires receive a laptop on day one.")]),
        "plain.txt": files.SAMPLE_TXT,
        "handbook.md": files.SAMPLE_MD,
        "garden.html": files.SAMPLE_HTML,
        "cities.csv": files.SAMPLE_CSV,
        "product.json": files.SAMPLE_JSON,
    }
    ids: dict[str, str] = {}
    for name, data in samples.items():
        with run_on_commit():
            response = _upload(auth_client, repository.id, name, data)
        assert response.status_code == 202, response.content
        body = response.json()
        assert body["status"] == "pending" and body["filename"] == name
        ids[name] = body["document_id"]

    documents = auth_client.get(f"/api/v1/knowledge/{repository.id}/documents").json()
    assert documents["count"] == 7
    for document in documents["results"]:
        assert document["status"] == "ready", document
        assert document["error"] == "" and document["chunk_count"] >= 1 and document["progress"] == 100
    kinds = {d["filename"]: d["content_type"] for d in documents["results"]}
    assert kinds["guide.pdf"] == "application/pdf" and kinds["cities.csv"] == "text/csv" and kinds["garden.html"] == "text/html"

    pdf_pages = sorted(Chunk.objects.filter(document_id=ids["guide.pdf"]).values_list("metadata__page", flat=True))
    assert pdf_pages == [1, 2]
    headings = set(Chunk.objects.filter(document_id=ids["handbook.md"]).values_list("metadata__heading", flat=True))
    assert headings == {"Deployment handbook", "Rollback"}
    assert set(Chunk.objects.filter(repository=repository).values_list("embedding_model", flat=True)) == {"all-MiniLM-L6-v2-onnx-int8"}

    repo = auth_client.get(f"/api/v1/knowledge/{repository.id}").json()
    assert repo["document_count"] == 7 and repo["chunk_count"] == Chunk.objects.filter(repository=repository).count()
    assert repo["embedding_model"] == "all-MiniLM-L6-v2-onnx-int8"

    one = auth_client.get(f"/api/v1/documents/{ids['guide.pdf']}").json()
    assert one["status"] == "ready" and one["size"] == len(samples["guide.pdf"])
    download = auth_client.get(f"/api/v1/documents/{ids['notes.docx']}/download")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == samples["notes.docx"]
    assert "attachment" in download["Content-Disposition"] and "notes.docx" in download["Content-Disposition"]


def test_unsupported_or_mismatched_files_answer_415_and_store_nothing(auth_client: APIClient, repository: Repository, media_root: Path) -> None:
    for name, data in [("photo.gif", files.GIF_BYTES), ("photo.pdf", files.PNG_BYTES), ("report.txt", files.make_pdf(["x"]))]:
        body = _error(_upload(auth_client, repository.id, name, data), 415, "UNSUPPORTED_MEDIA_TYPE")
        assert "allowed" in body["error"]["details"]
    assert _stored_files(media_root) == []
    assert Document.objects.count() == 0


def test_too_large_answers_413_and_stores_nothing(auth_client: APIClient, repository: Repository, media_root: Path, settings) -> None:  # type: ignore[no-untyped-def]
    settings.KNOWLEDGE_MAX_UPLOAD_BYTES = 1000
    body = _error(_upload(auth_client, repository.id, "big.txt", b"a" * 1001), 413, "PAYLOAD_TOO_LARGE")
    assert body["error"]["details"]["max_bytes"] == 1000
    assert _stored_files(media_root) == [] and Document.objects.count() == 0


def test_upload_needs_a_file_and_multipart(auth_client: APIClient, repository: Repository) -> None:
    _error(auth_client.post(f"/api/v1/knowledge/{repository.id}/documents", {}, format="multipart"), 400, "VALIDATION_ERROR")
    _error(auth_client.post(f"/api/v1/knowledge/{repository.id}/documents", {"file": "x"}, format="json"), 415, "UNSUPPORTED_MEDIA_TYPE")


def test_hostile_upload_ends_failed_with_a_clear_error(auth_client: APIClient, repository: Repository, run_on_commit: Any) -> None:
    with run_on_commit():
        response = _upload(auth_client, repository.id, "locked.pdf", files.make_encrypted_pdf("top secret"))
    assert response.status_code == 202
    document = auth_client.get(f"/api/v1/documents/{response.json()['document_id']}").json()
    assert document["status"] == "failed" and "encrypted" in document["error"] and document["chunk_count"] == 0


def test_delete_document_removes_file_chunks_and_vectors(auth_client: APIClient, repository: Repository, media_root: Path, run_on_commit: Any) -> None:
    with run_on_commit():
        doc_id = _upload(auth_client, repository.id, "plain.txt", files.SAMPLE_TXT).json()["document_id"]
    assert len(_stored_files(media_root)) == 1 and Chunk.objects.filter(document_id=doc_id).exists()
    with run_on_commit():
        assert auth_client.delete(f"/api/v1/documents/{doc_id}").status_code == 204
    assert _stored_files(media_root) == []
    assert not Chunk.objects.filter(document_id=doc_id).exists()
    _error(auth_client.get(f"/api/v1/documents/{doc_id}"), 404, "NOT_FOUND")


def test_delete_repository_removes_every_file(auth_client: APIClient, repository: Repository, media_root: Path, run_on_commit: Any) -> None:
    with run_on_commit():
        _upload(auth_client, repository.id, "a.txt", files.SAMPLE_TXT)
        _upload(auth_client, repository.id, "b.md", files.SAMPLE_MD)
    assert len(_stored_files(media_root)) == 2
    with run_on_commit():
        assert auth_client.delete(f"/api/v1/knowledge/{repository.id}").status_code == 204
    assert _stored_files(media_root) == [] and Chunk.objects.count() == 0


def test_reprocess_is_idempotent(auth_client: APIClient, repository: Repository, run_on_commit: Any) -> None:
    with run_on_commit():
        doc_id = _upload(auth_client, repository.id, "handbook.md", files.SAMPLE_MD).json()["document_id"]
    before = list(Chunk.objects.filter(document_id=doc_id).order_by("position").values_list("id", "content"))
    for _ in range(2):
        with run_on_commit():
            response = auth_client.post(f"/api/v1/documents/{doc_id}/reprocess")
        assert response.status_code == 202
    after = list(Chunk.objects.filter(document_id=doc_id).order_by("position").values_list("id", "content"))
    assert [content for _, content in after] == [content for _, content in before]  # same chunks, no duplicates
    assert {pk for pk, _ in after}.isdisjoint({pk for pk, _ in before})  # replaced, not appended
    assert auth_client.get(f"/api/v1/documents/{doc_id}").json()["status"] == "ready"


def test_upload_url_answers_409_without_s3(auth_client: APIClient, repository: Repository) -> None:
    body = _error(
        auth_client.post(
            "/api/v1/documents/upload-url",
            {"file_name": "a.pdf", "file_type": "application/pdf", "file_size": 10, "repository_id": str(repository.id)},
            format="json",
        ),
        409,
        "CONFLICT",
    )
    assert "AWS_STORAGE_BUCKET_NAME" in body["error"]["message"]
    _error(
        auth_client.post("/api/v1/documents/confirm", {"file_key": "x", "repository_id": str(repository.id)}, format="json"),
        409,
        "CONFLICT",
    )


# ------------------------------------------------------------------------------ search
@pytest.fixture
def searchable(auth_client: APIClient, repository: Repository, run_on_commit: Any) -> Repository:
    texts = {
        "solar.txt": b"Solar panels convert sunlight into electricity using photovoltaic cells.",
        "garden.txt": b"Tomatoes need full sun and deep watering twice a week.",
        "db.txt": b"PostgreSQL uses write-ahead logging to make transactions durable after a crash.",
    }
    with run_on_commit():
        for name, data in texts.items():
            _upload(auth_client, repository.id, name, data)
    return repository


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_search_modes_find_the_right_document(auth_client: APIClient, searchable: Repository, mode: str) -> None:
    response = auth_client.post("/api/v1/knowledge/search", {"query": "how do photovoltaic panels make electricity", "mode": mode}, format="json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert results, mode
    top = results[0]
    assert set(top) == {"chunk_id", "document_id", "repository_id", "content", "score", "metadata"}
    assert "Solar panels" in top["content"] and top["repository_id"] == str(searchable.id)
    assert top["metadata"]["filename"] == "solar.txt"
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)


def test_vector_search_understands_meaning_without_shared_words(auth_client: APIClient, searchable: Repository) -> None:
    results = auth_client.post("/api/v1/knowledge/search", {"query": "vegetable gardening", "mode": "vector", "limit": 1}, format="json").json()["results"]
    assert len(results) == 1 and "Tomatoes" in results[0]["content"]
    keyword = auth_client.post("/api/v1/knowledge/search", {"query": "vegetable gardening", "mode": "keyword"}, format="json").json()["results"]
    assert keyword == []


def test_search_validates_input(auth_client: APIClient, searchable: Repository) -> None:
    _error(auth_client.post("/api/v1/knowledge/search", {"query": ""}, format="json"), 400, "VALIDATION_ERROR")
    _error(auth_client.post("/api/v1/knowledge/search", {"query": "x", "mode": "fuzzy"}, format="json"), 400, "VALIDATION_ERROR")
    _error(auth_client.post("/api/v1/knowledge/search", {"query": "x", "limit": 0}, format="json"), 400, "VALIDATION_ERROR")
    _error(auth_client.post("/api/v1/knowledge/search", {"query": "x", "repository_ids": ["nope"]}, format="json"), 400, "VALIDATION_ERROR")


# ------------------------------------------------------------------------------ BOLA
def test_another_users_repository_and_documents_are_404_everywhere(
    api_client: APIClient, user: Any, other_user: Any, other_repository: Repository, run_on_commit: Any
) -> None:
    owner = APIClient()
    owner.force_authenticate(other_user)
    with run_on_commit():
        doc_id = _upload(owner, other_repository.id, "secret.txt", b"The vault code is 1234.").json()["document_id"]
    intruder = APIClient()
    intruder.force_authenticate(user)
    rid = other_repository.id
    _error(intruder.get(f"/api/v1/knowledge/{rid}"), 404, "NOT_FOUND")
    _error(intruder.patch(f"/api/v1/knowledge/{rid}", {"name": "mine"}, format="json"), 404, "NOT_FOUND")
    _error(intruder.delete(f"/api/v1/knowledge/{rid}"), 404, "NOT_FOUND")
    _error(intruder.get(f"/api/v1/knowledge/{rid}/documents"), 404, "NOT_FOUND")
    _error(_upload(intruder, rid, "x.txt", b"hello"), 404, "NOT_FOUND")
    _error(intruder.get(f"/api/v1/documents/{doc_id}"), 404, "NOT_FOUND")
    _error(intruder.get(f"/api/v1/documents/{doc_id}/download"), 404, "NOT_FOUND")
    _error(intruder.delete(f"/api/v1/documents/{doc_id}"), 404, "NOT_FOUND")
    _error(intruder.post(f"/api/v1/documents/{doc_id}/reprocess"), 404, "NOT_FOUND")
    _error(
        intruder.post("/api/v1/documents/upload-url", {"file_name": "a.txt", "file_type": "text/plain", "file_size": 5, "repository_id": str(rid)}, format="json"),
        404,
        "NOT_FOUND",
    )
    _error(intruder.post("/api/v1/documents/confirm", {"file_key": "k", "repository_id": str(rid)}, format="json"), 404, "NOT_FOUND")
    # Inside a search filter too, and never its content in an unfiltered search.
    _error(intruder.post("/api/v1/knowledge/search", {"query": "vault code", "repository_ids": [str(rid)]}, format="json"), 404, "NOT_FOUND")
    assert intruder.post("/api/v1/knowledge/search", {"query": "vault code"}, format="json").json()["results"] == []
    assert intruder.get("/api/v1/knowledge").json()["count"] == 0
    # Random ids are 404 as well, and the owner still sees everything.
    _error(intruder.get(f"/api/v1/documents/{uuid.uuid4()}"), 404, "NOT_FOUND")
    assert owner.post("/api/v1/knowledge/search", {"query": "vault code"}, format="json").json()["results"]
    assert Document.objects.filter(pk=doc_id).exists()
    _error(api_client.get("/api/v1/knowledge"), 401, "UNAUTHORIZED")


def test_workspace_members_read_shared_repositories_but_only_writers_change_them(db: Any, media_root: Path, run_on_commit: Any) -> None:
    from apps.accounts.models import WorkspaceMember

    owner_user, member_user, outsider = UserFactory(), UserFactory(), UserFactory()
    workspace = WorkspaceFactory(owner=owner_user)
    WorkspaceMember.objects.create(workspace=workspace, user=member_user, role="member")
    owner, member, stranger = APIClient(), APIClient(), APIClient()
    owner.force_authenticate(owner_user)
    member.force_authenticate(member_user)
    stranger.force_authenticate(outsider)

    created = owner.post("/api/v1/knowledge", {"name": "Shared", "workspace_id": str(workspace.id)}, format="json")
    assert created.status_code == 201 and created.json()["workspace_id"] == str(workspace.id)
    rid = created.json()["id"]
    with run_on_commit():
        doc_id = _upload(owner, rid, "team.txt", b"The team offsite is in Lisbon in May.").json()["document_id"]

    assert member.get(f"/api/v1/knowledge/{rid}").status_code == 200
    assert member.get(f"/api/v1/documents/{doc_id}/download").status_code == 200
    assert member.post("/api/v1/knowledge/search", {"query": "offsite Lisbon", "repository_ids": [rid]}, format="json").json()["results"]
    _error(member.patch(f"/api/v1/knowledge/{rid}", {"name": "Mine"}, format="json"), 403, "FORBIDDEN")
    _error(_upload(member, rid, "x.txt", b"hello"), 403, "FORBIDDEN")
    _error(member.delete(f"/api/v1/documents/{doc_id}"), 403, "FORBIDDEN")
    _error(stranger.get(f"/api/v1/knowledge/{rid}"), 404, "NOT_FOUND")
    # Sharing with a workspace the caller does not belong to is refused.
    _error(stranger.post("/api/v1/knowledge", {"name": "X", "workspace_id": str(workspace.id)}, format="json"), 400, "VALIDATION_ERROR")
    # Unsharing makes it private again.
    assert owner.patch(f"/api/v1/knowledge/{rid}", {"workspace_id": None}, format="json").json()["workspace_id"] is None
    _error(member.get(f"/api/v1/knowledge/{rid}"), 404, "NOT_FOUND")


def test_api_keys_need_the_knowledge_scope(user: Any, repository: Repository) -> None:
    from apps.accounts import services as account_services

    _key, raw = account_services.api_key_create(user=user, name="chat only", scopes=["chat"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    _error(client.get("/api/v1/knowledge"), 403, "FORBIDDEN")
    _key, raw = account_services.api_key_create(user=user, name="kb", scopes=["knowledge"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/knowledge").status_code == 200


def test_services_refuse_writes_for_readers(user: Any, other_user: Any, other_repository: Repository) -> None:
    from apps.core.errors import Forbidden

    with pytest.raises(Forbidden):
        services.repository_update(user=user, repository=other_repository, name="x")


def test_changing_the_embedding_model_re_embeds_the_whole_repository(
    auth_client: APIClient, repository: Repository, run_on_commit: Any, settings  # type: ignore[no-untyped-def]
) -> None:
    from tests.fakes.embeddings_server import embeddings_server

    with run_on_commit():
        first = _upload(auth_client, repository.id, "a.txt", b"Alpha document about rivers.").json()["document_id"]
        second = _upload(auth_client, repository.id, "b.txt", b"Beta document about mountains.").json()["document_id"]
    assert set(Chunk.objects.filter(repository=repository).values_list("embedding_model", flat=True)) == {"all-MiniLM-L6-v2-onnx-int8"}
    with embeddings_server() as server:
        settings.KNOWLEDGE_EMBEDDINGS_BACKEND = "openai"
        settings.KNOWLEDGE_EMBEDDINGS_URL = server.url
        settings.KNOWLEDGE_EMBEDDINGS_MODEL = "nomic-embed-text"
        settings.KNOWLEDGE_EMBEDDINGS_API_KEY = "test-embeddings-key"
        with run_on_commit():
            assert auth_client.post(f"/api/v1/documents/{first}/reprocess").status_code == 202
        # The other document was re-queued and re-embedded too: one model per repository.
        assert set(Chunk.objects.filter(repository=repository).values_list("embedding_model", flat=True)) == {"openai:nomic-embed-text"}
        assert Document.objects.get(pk=second).status == "ready"
        repository.refresh_from_db()
        assert repository.embedding_model == "openai:nomic-embed-text"
        results = auth_client.post("/api/v1/knowledge/search", {"query": "mountains", "mode": "vector", "limit": 1}, format="json").json()
        assert results["results"][0]["document_id"] == second


@pytest.mark.django_db(transaction=True)
def test_a_multipart_upload_through_daphne_arrives_whole(tmp_path: Path) -> None:
    """A real daphne, whose Twisted side no longer parses uploads into a copy of their own: the file is stored byte for byte."""
    import httpx

    from apps.accounts.seeds import seed
    from apps.accounts.services import api_key_create
    from tests.conftest import start_daphne, stop_process

    seed()  # an earlier transactional test may have flushed the seeded tiers
    root = tmp_path / "media"
    root.mkdir()
    user = UserFactory()
    repository = services.repository_create(user=user, name="Uploads")
    _key, raw = api_key_create(user=user, name="upload", scopes=["*"])
    data = ("Section one.\n" + "All work and no play. " * 20_000).encode()  # about 440 KB
    server = start_daphne(tmp_path, MEDIA_ROOT=str(root))
    try:
        headers = {"Authorization": f"Bearer {raw}"}
        answer = httpx.post(f"{server.url}/api/v1/knowledge/{repository.pk}/documents", headers=headers,
                            files={"file": ("notes.txt", data, "text/plain")}, timeout=30)
        assert answer.status_code == 202, answer.text[:500]
        document_id = answer.json()["document_id"]
        download = httpx.get(f"{server.url}/api/v1/documents/{document_id}/download", headers=headers, timeout=30)
    finally:
        stop_process(server.process)
    assert download.status_code == 200 and download.content == data
    assert Document.objects.get(pk=document_id).size == len(data)
