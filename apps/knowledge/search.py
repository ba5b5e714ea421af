"""Search over chunks: vector (pgvector HNSW, cosine), keyword (PostgreSQL full-text) and hybrid (RRF).

The filter (the caller's repositories, or chosen documents) is part of the SQL, and the vector
query runs with pgvector's iterative index scan (`hnsw.iterative_scan = relaxed_order`): when the
HNSW candidate list is exhausted by rows the filter drops, the scan goes on instead of returning
a short page. If the scan still stops short (`hnsw.max_scan_tuples`), an exact scan of the
filtered rows fills the page, so a search returns `limit` rows whenever that many exist.

`rag_context` turns the top chunks into a context block with citation markers for chat.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction

from apps.core.errors import ValidationError

from . import embeddings
from .models import SEARCH_CONFIG, Chunk
from .selectors import document_ids_for_user, repository_ids_for_user

if TYPE_CHECKING:
    from apps.accounts.models import User

MODES = ("hybrid", "vector", "keyword")
MAX_LIMIT = 100
# Reciprocal-rank-fusion constant (Cormack et al.); 60 is the value the paper and most engines use.
RRF_K = 60


@dataclass
class SearchHit:
    """One ranked chunk with every score that went into its rank."""

    chunk_id: uuid.UUID
    document_id: uuid.UUID
    repository_id: uuid.UUID
    content: str
    score: float
    metadata: dict[str, Any]
    filename: str = ""
    rank: int = 0
    vector_score: float | None = None
    vector_rank: int | None = None
    keyword_score: float | None = None
    keyword_rank: int | None = None
    fused_score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Filter:
    repository_ids: list[uuid.UUID]
    document_ids: list[uuid.UUID]

    def sql(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.repository_ids:
            clauses.append("c.repository_id = ANY(%s::uuid[])")
            params.append([str(pk) for pk in self.repository_ids])
        if self.document_ids:
            clauses.append("c.document_id = ANY(%s::uuid[])")
            params.append([str(pk) for pk in self.document_ids])
        return "(" + " OR ".join(clauses) + ")", params

    @property
    def empty(self) -> bool:
        return not self.repository_ids and not self.document_ids


def _vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{value:.7g}" for value in vector) + "]"


def vector_candidates(
    *, query_vector: Sequence[float], model: str, flt: _Filter, limit: int, ef_search: int | None = None
) -> list[tuple[uuid.UUID, float]]:
    """(chunk id, cosine similarity) of the nearest chunks that pass the filter, best first."""
    where, params = flt.sql()
    literal = _vector_literal(query_vector)
    ef = int(ef_search or settings.KNOWLEDGE_HNSW_EF_SEARCH)
    indexed = (
        "SELECT c.id, c.embedding <=> %s::vector AS distance FROM knowledge_chunk c "
        f"WHERE {where} AND c.embedding_model = %s ORDER BY distance LIMIT %s"
    )
    # `+ 0` keeps the planner off the HNSW index: an exact scan of the filtered rows.
    exact = (
        "SELECT c.id, (c.embedding <=> %s::vector) + 0 AS distance FROM knowledge_chunk c "
        f"WHERE {where} AND c.embedding_model = %s ORDER BY distance LIMIT %s"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        # set_config(..., true) is SET LOCAL: it ends with this transaction, so pooled connections stay clean.
        cursor.execute(
            "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), set_config('hnsw.ef_search', %s, true)",
            [str(max(ef, limit))],
        )
        cursor.execute(indexed, [literal, *params, model, limit])
        rows = cursor.fetchall()
        if len(rows) < limit:
            cursor.execute(exact, [literal, *params, model, limit])
            rows = cursor.fetchall()
    # relaxed_order may return rows slightly out of order: sort them here.
    ordered = sorted(rows, key=lambda row: row[1])
    return [(row[0], 1.0 - float(row[1])) for row in ordered]


def keyword_candidates(*, query: str, flt: _Filter, limit: int) -> list[tuple[uuid.UUID, float]]:
    """(chunk id, ts_rank_cd) of chunks matching any word of the query, best first."""
    where, params = flt.sql()
    # plainto_tsquery ANDs every word; a question rarely has all its words in one passage, so OR them.
    sql = (
        "WITH q AS (SELECT NULLIF(replace(plainto_tsquery(%s::regconfig, %s)::text, ' & ', ' | '), '')::tsquery AS query) "
        "SELECT c.id, ts_rank_cd(c.search_vector, q.query, 32) AS rank FROM knowledge_chunk c, q "
        f"WHERE q.query IS NOT NULL AND c.search_vector @@ q.query AND {where} ORDER BY rank DESC, c.id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [SEARCH_CONFIG, query, *params, limit])
        return [(row[0], float(row[1])) for row in cursor.fetchall()]


def _fuse(
    vector: list[tuple[uuid.UUID, float]], keyword: list[tuple[uuid.UUID, float]]
) -> list[tuple[uuid.UUID, float]]:
    scores: dict[uuid.UUID, float] = {}
    for ranked in (vector, keyword):
        for position, (chunk_id, _score) in enumerate(ranked, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (RRF_K + position)
    return sorted(scores.items(), key=lambda item: (-item[1], str(item[0])))


def search_chunks(
    *,
    query: str,
    repository_ids: Iterable[uuid.UUID] = (),
    document_ids: Iterable[uuid.UUID] = (),
    limit: int = 10,
    mode: str = "hybrid",
    ef_search: int | None = None,
) -> list[SearchHit]:
    """Search already-authorised repositories/documents (callers resolve ids through selectors)."""
    if mode not in MODES:
        raise ValidationError(f"mode must be one of {', '.join(MODES)}.", details={"mode": [f"Use one of {', '.join(MODES)}."]})
    query = (query or "").strip()
    if not query:
        raise ValidationError("The query is empty.", details={"query": ["This field may not be blank."]})
    limit = max(1, min(int(limit), MAX_LIMIT))
    flt = _Filter(repository_ids=list(repository_ids), document_ids=list(document_ids))
    if flt.empty:
        return []
    candidates = limit if mode != "hybrid" else max(limit * 3, 30)
    vector: list[tuple[uuid.UUID, float]] = []
    keyword: list[tuple[uuid.UUID, float]] = []
    if mode in ("vector", "hybrid"):
        query_vector = embeddings.embed([query])[0]
        vector = vector_candidates(
            query_vector=query_vector, model=embeddings.model_name(), flt=flt, limit=candidates, ef_search=ef_search
        )
    if mode in ("keyword", "hybrid"):
        keyword = keyword_candidates(query=query, flt=flt, limit=candidates)

    if mode == "vector":
        ranked = vector
    elif mode == "keyword":
        ranked = keyword
    else:
        ranked = _fuse(vector, keyword)
    ranked = ranked[:limit]

    vector_info = {chunk_id: (position, score) for position, (chunk_id, score) in enumerate(vector, start=1)}
    keyword_info = {chunk_id: (position, score) for position, (chunk_id, score) in enumerate(keyword, start=1)}
    chunks = Chunk.objects.filter(pk__in=[chunk_id for chunk_id, _ in ranked]).select_related("document").in_bulk()
    hits: list[SearchHit] = []
    for chunk_id, score in ranked:
        chunk = chunks.get(chunk_id)
        if chunk is None:  # deleted between the ranking and this read
            continue
        vector_rank, vector_score = vector_info.get(chunk_id, (None, None))
        keyword_rank, keyword_score = keyword_info.get(chunk_id, (None, None))
        metadata = {**chunk.metadata, "position": chunk.position, "filename": chunk.document.filename}
        hits.append(
            SearchHit(
                chunk_id=chunk.id,
                document_id=chunk.document_id,
                repository_id=chunk.repository_id,
                content=chunk.content,
                score=round(score, 6),
                metadata=metadata,
                filename=chunk.document.filename,
                rank=len(hits) + 1,
                vector_score=None if vector_score is None else round(vector_score, 6),
                vector_rank=vector_rank,
                keyword_score=None if keyword_score is None else round(keyword_score, 6),
                keyword_rank=keyword_rank,
                fused_score=round(score, 6) if mode == "hybrid" else None,
            )
        )
    return hits


def knowledge_search(
    *, user: User, query: str, repository_ids: Iterable[Any] | None = None, limit: int = 10, mode: str = "hybrid"
) -> list[SearchHit]:
    """Search the caller's repositories (all readable ones when `repository_ids` is None).

    Any id in `repository_ids` the caller cannot read answers NotFound, like every other route.
    """
    ids = repository_ids_for_user(user=user, repository_ids=repository_ids)
    return search_chunks(query=query, repository_ids=ids, limit=limit, mode=mode)


def _snippet(text: str, limit: int = 280) -> str:
    """The start of a passage on one line, cut at a word with an ellipsis when longer than `limit`."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + "…"


def rag_context(
    *,
    user: User,
    query: str,
    repository_ids: Iterable[Any] | None = None,
    document_ids: Iterable[Any] | None = None,
    limit: int = 5,
    max_chars: int = 12_000,
) -> tuple[str, list[dict[str, Any]]]:
    """Context for a chat turn: the top chunks as `[n]`-marked passages, and the sources they cite.

    Chunks come from the given repositories and documents (each must be readable, else NotFound).
    Returns ("", []) when neither is given or nothing matches. Each source is
    `{marker, document_id, chunk_id, repository_id, filename, page, heading, score, snippet}`
    (the snippet is the passage's first 280 characters, for showing the source under a reply).
    """
    repo_ids = repository_ids_for_user(user=user, repository_ids=list(repository_ids)) if repository_ids else []
    doc_ids = document_ids_for_user(user=user, document_ids=list(document_ids)) if document_ids else []
    if not repo_ids and not doc_ids or not (query or "").strip():
        return "", []
    hits = search_chunks(query=query, repository_ids=repo_ids, document_ids=doc_ids, limit=limit, mode="hybrid")
    blocks: list[str] = []
    sources: list[dict[str, Any]] = []
    used = 0
    for hit in hits:
        marker = len(sources) + 1
        where = hit.filename
        if hit.metadata.get("page"):
            where += f", page {hit.metadata['page']}"
        if hit.metadata.get("heading"):
            where += f", section \"{hit.metadata['heading']}\""
        block = f"[{marker}] ({where})\n{hit.content.strip()}"
        if used and used + len(block) > max_chars:
            break
        blocks.append(block)
        used += len(block) + 2
        sources.append(
            {
                "marker": marker,
                "document_id": str(hit.document_id),
                "chunk_id": str(hit.chunk_id),
                "repository_id": str(hit.repository_id),
                "filename": hit.filename,
                "page": hit.metadata.get("page"),
                "heading": hit.metadata.get("heading"),
                "score": hit.score,
                "snippet": _snippet(hit.content),
            }
        )
    if not blocks:
        return "", []
    header = (
        "Use the numbered passages below to answer. Cite a passage with its marker, like [1]. "
        "If they do not hold the answer, say so.\n\n"
    )
    return header + "\n\n".join(blocks), sources
