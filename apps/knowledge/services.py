"""Writes of the knowledge app: repositories, uploads, ingestion, deletion, the stuck-document reaper.

Search (`knowledge_search`) and chat context (`rag_context`) are reads; they live in
`apps.knowledge.search` and are re-exported here for callers in other apps.
"""
from __future__ import annotations

import logging
import os
import re
import time
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.accounts.policy import tier_policy
from apps.accounts.selectors import workspace_for_sharing
from apps.core.errors import Conflict, Forbidden, NotFound, ValidationError
from apps.core.queues import enqueue
from apps.core.reaping import stuck_reap

from . import embeddings, storage
from .chunking import chunk_sections
from .errors import EmbeddingUnavailable, FileTooLarge, PresignedUploadsDisabled, UnsupportedFileType
from .extraction import ExtractionError, Limits, extract_in_subprocess
from .filetypes import CONTENT_TYPES, SNIFF_BYTES, allowed_kinds, declared_kind, sniff
from .models import Chunk, Document, DocumentStatus, Repository, UploadTicket
from .search import knowledge_search, rag_context  # noqa: F401  (re-exported for other apps)
from .selectors import repository_can_write

if TYPE_CHECKING:
    from apps.accounts.models import User

logger = logging.getLogger("nexus.knowledge")

__all__ = [
    "knowledge_search",
    "rag_context",
    "repository_create",
    "repository_update",
    "repository_delete",
    "document_upload",
    "document_upload_url",
    "document_confirm",
    "document_delete",
    "document_reprocess",
    "document_ingest",
    "documents_reap_stuck",
]


# ---------------------------------------------------------------------------------------------
# Repositories
# ---------------------------------------------------------------------------------------------
def _require_write(*, user: User, repository: Repository) -> None:
    if not repository_can_write(user=user, repository=repository):
        raise Forbidden("You can read this repository but not change it.")



_UNSET: Any = object()


@transaction.atomic
def repository_create(*, user: User, name: str, description: str = "", workspace_id: Any = None) -> Repository:
    """A new repository owned by the caller, private or shared with one of the caller's workspaces."""
    return Repository.objects.create(
        owner=user,
        name=name.strip(),
        description=description or "",
        workspace_id=workspace_for_sharing(user=user, workspace_id=workspace_id),
    )


@transaction.atomic
def repository_update(
    *, user: User, repository: Repository, name: str | None = None, description: str | None = None, workspace_id: Any = _UNSET
) -> Repository:
    """Rename, describe, share or unshare (workspace_id=None) a repository the caller may write."""
    _require_write(user=user, repository=repository)
    if name is not None:
        repository.name = name.strip()
    if description is not None:
        repository.description = description
    if workspace_id is not _UNSET:
        repository.workspace_id = workspace_for_sharing(user=user, workspace_id=workspace_id)
    repository.save()
    return repository


@transaction.atomic
def repository_delete(*, user: User, repository: Repository) -> None:
    """Delete a repository with its documents, chunks, vectors and stored files."""
    _require_write(user=user, repository=repository)
    file_keys = list(repository.documents.values_list("file_key", flat=True))
    file_keys += list(repository.upload_tickets.filter(document__isnull=True).values_list("storage_name", flat=True))
    repository.delete()
    transaction.on_commit(lambda: _delete_files(file_keys))


def _delete_files(names: list[str]) -> None:
    for name in names:
        try:
            storage.file_delete(name)
        except Exception:  # a file left behind is logged, never a failed delete for the user
            logger.exception("Could not delete stored file %s", name)


# ---------------------------------------------------------------------------------------------
# Uploads
# ---------------------------------------------------------------------------------------------
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe_filename(file_name: str) -> str:
    base = os.path.basename((file_name or "").replace("\\", "/")).strip() or "document"
    stem, ext = os.path.splitext(base)
    stem = _UNSAFE.sub("-", stem).strip("-.") or "document"
    return f"{stem[:100]}{_UNSAFE.sub('', ext)[:10].lower()}"


def _display_filename(file_name: str) -> str:
    name = os.path.basename((file_name or "").replace("\\", "/")).strip()
    return (name or "document")[:255]


def _storage_name(*, repository: Repository, document_id: uuid.UUID, file_name: str) -> str:
    return f"knowledge/{repository.id}/{document_id}/{_safe_filename(file_name)}"


def upload_limit(*, user: User) -> int:
    """The largest file the caller may upload: the install's limit, lowered by the caller's tier."""
    limit = int(settings.KNOWLEDGE_MAX_UPLOAD_BYTES)
    tier_limit = int(getattr(tier_policy(user), "upload_max_bytes", 0) or 0)
    return min(limit, tier_limit) if tier_limit > 0 else limit


def _check_size(size: int, *, limit: int) -> None:
    if size > limit:
        raise FileTooLarge(
            f"The file is {size:,} bytes; at most {limit:,} bytes are accepted.", details={"max_bytes": limit, "size": size}
        )
    if size <= 0:
        raise ValidationError("The file is empty.", details={"file": ["The submitted file is empty."]})


def _enqueue_ingest(document_id: uuid.UUID) -> None:
    enqueue("apps.knowledge.tasks.document_ingest", str(document_id))


@transaction.atomic
def document_upload(*, user: User, repository: Repository, upload: UploadedFile) -> Document:
    """Store an uploaded file after checking its size and sniffing its type, then queue ingestion."""
    _require_write(user=user, repository=repository)
    limit = upload_limit(user=user)
    _check_size(int(upload.size or 0), limit=limit)
    upload.seek(0)
    data = upload.read(limit + 1)
    _check_size(len(data), limit=limit)  # the declared size of a multipart part is not to be trusted
    file_name = _display_filename(upload.name or "")
    kind = sniff(data, file_name=file_name, file_type=upload.content_type, complete=True)
    document_id = uuid.uuid4()
    stored = storage.file_save(_storage_name(repository=repository, document_id=document_id, file_name=file_name), data)
    document = Document.objects.create(
        id=document_id,
        repository=repository,
        uploaded_by=user,
        filename=file_name,
        content_type=kind.content_type,
        size=len(data),
        file_key=stored,
    )
    _enqueue_ingest(document.id)
    return document


@transaction.atomic
def document_upload_url(*, user: User, repository: Repository, file_name: str, file_type: str, file_size: int) -> dict[str, Any]:
    """A presigned S3 POST for one file of a declared name, type and exact size."""
    if not storage.s3_enabled():
        raise PresignedUploadsDisabled()
    _require_write(user=user, repository=repository)
    _check_size(int(file_size), limit=upload_limit(user=user))
    declared = declared_kind(file_name, file_type)
    if declared is None:
        raise ValidationError(
            "Name the file with its extension or give its content type.", details={"file_name": ["Unknown file type."]}
        )
    if declared not in allowed_kinds():
        raise UnsupportedFileType(
            f"Files like {file_name!r} ({file_type}) are not supported.", details={"allowed": sorted(allowed_kinds())}
        )
    display = _display_filename(file_name)
    name = _storage_name(repository=repository, document_id=uuid.uuid4(), file_name=display)
    key = storage.s3_key(name)
    expires_in = int(settings.KNOWLEDGE_PRESIGNED_EXPIRES_SECONDS)
    post = storage.presigned_post(key=key, content_type=file_type, size=int(file_size), expires_in=expires_in)
    UploadTicket.objects.create(
        owner=user,
        repository=repository,
        file_key=key,
        storage_name=name,
        file_name=display,
        file_type=file_type,
        file_size=int(file_size),
        expires_at=timezone.now() + timedelta(seconds=expires_in),
    )
    return {"presigned_url": post.url, "file_key": key, "fields": post.fields}


@transaction.atomic
def document_confirm(*, user: User, file_key: str, repository: Repository, file_name: str | None = None) -> Document:
    """Turn an object uploaded with a presigned POST into a document, after checking it really is one."""
    if not storage.s3_enabled():
        raise PresignedUploadsDisabled()
    ticket = (
        UploadTicket.objects.select_for_update().filter(file_key=file_key, owner=user, repository=repository).first()
        if user.is_authenticated
        else None
    )
    if ticket is None:
        raise NotFound("No upload was issued to you under this file_key for this repository.")
    _require_write(user=user, repository=repository)
    if ticket.document_id is not None:  # confirming twice is harmless: same document
        return Document.objects.get(pk=ticket.document_id)
    size = storage.s3_object_size(ticket.file_key)
    if size is None:
        raise Conflict("Nothing has been uploaded under this file_key yet; post the file to presigned_url first.")
    try:
        _check_size(size, limit=upload_limit(user=user))
        if size != ticket.file_size:
            raise ValidationError(
                f"The uploaded object is {size:,} bytes but {ticket.file_size:,} were announced.",
                details={"file_size": [f"Expected {ticket.file_size} bytes, found {size}."]},
            )
        head = storage.s3_object_head(ticket.file_key, SNIFF_BYTES)
        kind = sniff(head, file_name=ticket.file_name, file_type=ticket.file_type, complete=size <= SNIFF_BYTES)
    except Exception:
        # Refused bytes do not stay in the bucket.
        storage.s3_object_delete(ticket.file_key)
        raise
    document = Document.objects.create(
        repository=repository,
        uploaded_by=user,
        filename=ticket.file_name,
        content_type=kind.content_type,
        size=size,
        file_key=ticket.storage_name,
    )
    ticket.document = document
    ticket.save(update_fields=["document"])
    _enqueue_ingest(document.id)
    return document


# ---------------------------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------------------------
@transaction.atomic
def document_delete(*, user: User, document: Document) -> None:
    """Delete a document: its chunks and vectors with it, and its stored file once committed."""
    _require_write(user=user, repository=document.repository)
    file_key = document.file_key
    Chunk.objects.filter(document=document).delete()
    document.delete()
    transaction.on_commit(lambda: _delete_files([file_key]))


@transaction.atomic
def document_reprocess(*, user: User, document: Document) -> Document:
    """Queue a document for extraction and embedding again; its old chunks are replaced, never duplicated."""
    _require_write(user=user, repository=document.repository)
    return _document_requeue(document_id=document.id)


def _document_requeue(*, document_id: uuid.UUID) -> Document:
    document = Document.objects.select_for_update().get(pk=document_id)
    if document.status == DocumentStatus.PROCESSING and not _is_stale(document):
        raise Conflict("The document is being processed right now; try again when it is done.")
    document.status = DocumentStatus.PENDING
    document.progress = 0
    document.error = ""
    document.attempts = 0
    document.ingest_token = ""
    document.save(update_fields=["status", "progress", "error", "attempts", "ingest_token", "updated_at"])
    _enqueue_ingest(document.id)
    return document


def _stale_before() -> Any:
    return timezone.now() - timedelta(seconds=int(settings.KNOWLEDGE_INGEST_STALE_SECONDS))


def _is_stale(document: Document) -> bool:
    return document.heartbeat_at is None or document.heartbeat_at < _stale_before()


# ---------------------------------------------------------------------------------------------
# Ingestion
# ---------------------------------------------------------------------------------------------
class _Superseded(Exception):
    """The document was deleted or claimed by another run while this one worked."""


def _claim(*, document_id: Any, run_token: str) -> Document | None:
    """Move a document to `processing` for this run; None when another run owns it or it is done."""
    now = timezone.now()
    with transaction.atomic():
        document = Document.objects.select_for_update().filter(pk=document_id).first()
        if document is None:
            return None
        redelivered = document.status == DocumentStatus.PROCESSING and run_token and document.ingest_token == run_token
        claimable = document.status == DocumentStatus.PENDING or redelivered or (
            document.status == DocumentStatus.PROCESSING and _is_stale(document)
        )
        if not claimable:
            return None
        if document.attempts >= int(settings.KNOWLEDGE_INGEST_MAX_ATTEMPTS):
            document.status = DocumentStatus.FAILED
            document.error = f"Processing stopped {document.attempts} times without finishing; giving up. Reprocess to try again."
            document.progress = 0
            document.save(update_fields=["status", "error", "progress", "updated_at"])
            return None
        document.status = DocumentStatus.PROCESSING
        document.ingest_token = run_token or uuid.uuid4().hex
        document.attempts = F("attempts") + 1
        document.progress = 1
        document.error = ""
        document.processing_started_at = now
        document.heartbeat_at = now
        document.save(
            update_fields=["status", "ingest_token", "attempts", "progress", "error", "processing_started_at", "heartbeat_at", "updated_at"]
        )
        document.refresh_from_db()
        return document


def _progress(document: Document, value: int) -> None:
    updated = Document.objects.filter(
        pk=document.pk, status=DocumentStatus.PROCESSING, ingest_token=document.ingest_token
    ).update(progress=max(1, min(99, value)), heartbeat_at=timezone.now())
    if not updated:
        raise _Superseded()


def _fail(document: Document, message: str) -> None:
    Document.objects.filter(pk=document.pk, ingest_token=document.ingest_token).update(
        status=DocumentStatus.FAILED, error=message[:2000], progress=0, heartbeat_at=timezone.now(), updated_at=timezone.now()
    )


def _extraction_limits() -> Limits:
    return Limits(
        timeout_seconds=float(settings.KNOWLEDGE_EXTRACT_TIMEOUT_SECONDS),
        memory_mb=int(settings.KNOWLEDGE_EXTRACT_MEMORY_MB),
        ocr_memory_mb=int(settings.KNOWLEDGE_OCR_MEMORY_MB),
    )


def _kind_of(document: Document) -> str:
    for kind, content_type in CONTENT_TYPES.items():
        if content_type == document.content_type:
            return kind
    raise ExtractionError(f"Documents of type {document.content_type!r} cannot be processed.")


def document_ingest(*, document_id: Any, run_token: str = "") -> Document | None:
    """Extract, chunk, embed and store one document; ends `ready` or `failed`, never half-written.

    Safe to call twice: a run that cannot claim the document does nothing, and the chunks are
    replaced in one transaction at the end, so a document never holds two runs' chunks.
    """
    document = _claim(document_id=document_id, run_token=run_token)
    if document is None:
        return None
    try:
        clock = time.perf_counter()
        timings: dict[str, float] = {}
        data = storage.file_read(document.file_key, max_bytes=int(settings.KNOWLEDGE_MAX_UPLOAD_BYTES))
        _progress(document, 3)
        warnings: list[str] = []

        def on_report(event: dict[str, Any]) -> None:
            # Pages read so far move progress from 3 to 10 (OCR makes this the slow part of a scan).
            if event.get("warning"):
                warnings.append(str(event["warning"]))
            elif event.get("pages"):
                _progress(document, 3 + int(7 * int(event.get("page", 0)) / int(event["pages"])))

        sections = extract_in_subprocess(_kind_of(document), data, _extraction_limits(), on_report=on_report)
        del data
        timings["extract_s"], clock = time.perf_counter() - clock, time.perf_counter()
        _progress(document, 10)
        pieces = chunk_sections(
            sections,
            chunk_tokens=int(settings.KNOWLEDGE_CHUNK_TOKENS),
            overlap_tokens=int(settings.KNOWLEDGE_CHUNK_OVERLAP_TOKENS),
            max_chunks=int(settings.KNOWLEDGE_MAX_CHUNKS_PER_DOCUMENT),
        )
        if not pieces:
            raise ExtractionError("No text was found in the document.")
        timings["chunk_s"], clock = time.perf_counter() - clock, time.perf_counter()
        _progress(document, 15)
        model = embeddings.model_name()
        batch = max(1, int(settings.KNOWLEDGE_EMBED_BATCH_SIZE)) * 4
        vectors: list[list[float]] = []
        for start in range(0, len(pieces), batch):
            vectors.extend(embeddings.embed([piece.content for piece in pieces[start : start + batch]]))
            _progress(document, 15 + int(80 * len(vectors) / len(pieces)))
        timings["embed_s"], clock = time.perf_counter() - clock, time.perf_counter()
        stored = _store(document=document, pieces=pieces, vectors=vectors, model=model, warnings=warnings)
        timings["store_s"] = time.perf_counter() - clock
        logger.info(
            "Ingested document %s: %d chunks (%s)", document_id, len(pieces), ", ".join(f"{k} {v:.2f}" for k, v in timings.items()),
            extra={"ingest_timings": {**timings, "chunks": len(pieces)}},
        )
        return stored
    except _Superseded:
        logger.info("Document %s was deleted or re-claimed during ingestion; this run stops.", document_id)
        return None
    except ExtractionError as exc:
        _fail(document, str(exc))
    except EmbeddingUnavailable as exc:
        _fail(document, f"Embedding failed: {exc.message}")
    except FileNotFoundError:
        _fail(document, "The uploaded file is missing from storage.")
    except Exception as exc:  # a bug must still end the document, not leave it `processing`
        logger.exception("Ingestion of document %s failed", document_id)
        _fail(document, f"Processing failed unexpectedly ({type(exc).__name__}).")
    return Document.objects.filter(pk=document.pk).first()


@transaction.atomic
def _store(*, document: Document, pieces: list[Any], vectors: list[list[float]], model: str, warnings: list[str] | None = None) -> Document:
    locked = Document.objects.select_for_update().filter(pk=document.pk).first()
    if locked is None or locked.status != DocumentStatus.PROCESSING or locked.ingest_token != document.ingest_token:
        raise _Superseded()
    repository = Repository.objects.select_for_update().get(pk=locked.repository_id)
    if repository.embedding_model != model:
        # A repository never mixes vector spaces: switching model re-embeds every other document.
        previous = repository.embedding_model
        repository.embedding_model = model
        repository.save(update_fields=["embedding_model", "updated_at"])
        if previous:
            stale = Document.objects.filter(repository=repository).exclude(pk=locked.pk).filter(
                Q(status=DocumentStatus.READY) | Q(status=DocumentStatus.FAILED)
            )
            for other in stale.values_list("pk", flat=True):
                _document_requeue(document_id=other)
    Chunk.objects.filter(document=locked).delete()
    Chunk.objects.bulk_create(
        [
            Chunk(
                document=locked,
                repository_id=locked.repository_id,
                position=position,
                content=piece.content,
                token_count=piece.token_count,
                embedding=vector,
                embedding_model=model,
                metadata=piece.metadata,
            )
            for position, (piece, vector) in enumerate(zip(pieces, vectors, strict=True))
        ],
        batch_size=500,
    )
    locked.status = DocumentStatus.READY
    locked.progress = 100
    # A ready document can still carry what could not be read (a page OCR failed on), for its owner to see.
    locked.error = "\n".join(warnings or [])[:2000]
    locked.chunk_count = len(pieces)
    locked.heartbeat_at = timezone.now()
    locked.save(update_fields=["status", "progress", "error", "chunk_count", "heartbeat_at", "updated_at"])
    return locked


def documents_reap_stuck() -> int:
    """Requeue (or fail, past the attempt limit) documents whose worker stopped mid-way; returns how many."""
    requeued: list[Any] = []

    def ingest_again(row: Any) -> None:
        _enqueue_ingest(row.pk)
        requeued.append(row.pk)

    def give_up(row: Any) -> bool:
        return bool(stuck.filter(pk=row.pk).update(
            status=DocumentStatus.FAILED, progress=0, updated_at=timezone.now(),
            error=f"The worker processing this document stopped {row.attempts} times; giving up. Reprocess to try again."))

    stuck = Document.objects.filter(status=DocumentStatus.PROCESSING).filter(
        Q(heartbeat_at__lt=_stale_before()) | Q(heartbeat_at__isnull=True)
    )
    processing = stuck_reap(stuck, put_back={"status": DocumentStatus.PENDING, "ingest_token": "", "updated_at": timezone.now()},
                            requeue=ingest_again, max_attempts=int(settings.KNOWLEDGE_INGEST_MAX_ATTEMPTS), give_up=give_up)
    # Queued but never picked up for a while: the message went down with a killed worker that had
    # prefetched it (the broker returns unacknowledged messages only after its visibility timeout).
    # Queue it again; the claim makes a second delivery a no-op.
    lost = stuck_reap(Document.objects.filter(status=DocumentStatus.PENDING, updated_at__lt=_stale_before()).exclude(pk__in=requeued),
                      put_back={"updated_at": timezone.now()}, requeue=lambda row: _enqueue_ingest(row.pk))
    reaped = processing.requeued + processing.failed + lost.requeued
    if reaped:
        logger.warning("Reaped %d document(s) stuck in processing or lost from the queue", reaped)
    return reaped
