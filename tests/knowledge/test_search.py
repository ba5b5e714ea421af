"""Search internals: filtered HNSW search returns full pages, RRF fusion, model separation, RAG context."""
from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest
from django.db import connection

from apps.core.errors import NotFound
from apps.knowledge import embeddings, services
from apps.knowledge.models import Chunk, Document, Repository
from apps.knowledge.search import knowledge_search, rag_context, search_chunks
from tests.factories import UserFactory


def _bulk_chunks(
    repository: Repository, count: int, *, seed: int, model: str | None = None, text: str = "filler passage", real: bool = False
) -> None:
    """`count` chunks with random unit vectors (or, `real`, their text's own), inserted directly."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    if real:
        vectors = np.array(embeddings.embed([f"{text} {i}" for i in range(count)]), dtype=np.float32)
    document = Document.objects.create(
        repository=repository, filename=f"bulk-{seed}.txt", content_type="text/plain", size=1, file_key=f"bulk/{seed}", status="ready",
        chunk_count=count,
    )
    Chunk.objects.bulk_create(
        [
            Chunk(
                document=document, repository=repository, position=i, content=f"{text} {i}", embedding=vectors[i].tolist(),
                embedding_model=model or embeddings.model_name(), metadata={"page": None, "heading": None},
            )
            for i in range(count)
        ],
        batch_size=1000,
    )


@pytest.fixture
def big_and_small(user: Any) -> tuple[Repository, Repository]:
    big = services.repository_create(user=user, name="big")
    small = services.repository_create(user=user, name="small")
    _bulk_chunks(big, 3000, seed=1)
    _bulk_chunks(small, 30, seed=2)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE knowledge_chunk")
    return big, small


def test_filtered_vector_search_returns_a_full_page(user: Any, big_and_small: tuple[Repository, Repository], settings) -> None:  # type: ignore[no-untyped-def]
    big, small = big_and_small
    settings.KNOWLEDGE_HNSW_EF_SEARCH = 10  # a small candidate list: only iterative scans can fill the page
    hits = knowledge_search(user=user, query="anything at all", repository_ids=[small.id], limit=25, mode="vector")
    assert len(hits) == 25
    assert {hit.repository_id for hit in hits} == {small.id}
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    # And the page is the true top 25 of the filtered rows (exact search agrees).
    query_vector = embeddings.embed(["anything at all"])[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM knowledge_chunk WHERE repository_id = %s ORDER BY (embedding <=> %s::vector) + 0 LIMIT 25",
            [str(small.id), "[" + ",".join(map(str, query_vector)) + "]"],
        )
        exact = [row[0] for row in cursor.fetchall()]
    assert [hit.chunk_id for hit in hits] == exact


def test_asking_for_more_than_exist_returns_all_of_them(user: Any, big_and_small: tuple[Repository, Repository]) -> None:
    _big, small = big_and_small
    hits = knowledge_search(user=user, query="x", repository_ids=[small.id], limit=100, mode="vector")
    assert len(hits) == 30


def test_the_vector_query_uses_the_hnsw_index_with_iterative_scan(user: Any, big_and_small: tuple[Repository, Repository]) -> None:
    big, _small = big_and_small
    vector = "[" + ",".join(["0.05"] * 384) + "]"
    from django.db import transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT c.id FROM knowledge_chunk c WHERE (c.repository_id = ANY(%s::uuid[])) AND c.embedding_model = %s "
            "ORDER BY c.embedding <=> %s::vector LIMIT 10",
            [[str(big.id)], embeddings.model_name(), vector],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "knowledge_chunk_embedding_hnsw" in plan


def test_hybrid_fuses_ranks_and_reports_every_score(user: Any, big_and_small: tuple[Repository, Repository]) -> None:
    big, _small = big_and_small
    _bulk_chunks(big, 3, seed=3, text="zebra migration across the savanna", real=True)
    hits = search_chunks(query="zebra savanna", repository_ids=[big.id], limit=5, mode="hybrid")
    top = hits[0]
    assert "zebra" in top.content
    # The three zebra chunks tie on keywords (ranks 1-3 in any order) and lead on meaning; the filler never matches.
    assert top.keyword_rank in (1, 2, 3) and top.keyword_score is not None and top.keyword_score > 0
    assert top.vector_rank in (1, 2, 3)
    expected = 1 / (60 + top.keyword_rank) + (1 / (60 + top.vector_rank) if top.vector_rank else 0)
    assert top.fused_score == pytest.approx(expected, rel=1e-4)
    assert all("zebra" in hit.content for hit in hits[:3])
    assert [hit.rank for hit in hits] == list(range(1, len(hits) + 1))


def test_chunks_of_another_embedding_model_are_never_compared(user: Any) -> None:
    repository = services.repository_create(user=user, name="old model")
    _bulk_chunks(repository, 20, seed=4, model="some-other-model")
    assert search_chunks(query="anything", repository_ids=[repository.id], limit=5, mode="vector") == []
    # Keyword search still reads the text.
    assert search_chunks(query="filler", repository_ids=[repository.id], limit=5, mode="keyword")


def test_search_filters_are_scoped_to_the_caller(user: Any, big_and_small: tuple[Repository, Repository]) -> None:
    stranger = UserFactory()
    _big, small = big_and_small
    with pytest.raises(NotFound):
        knowledge_search(user=stranger, query="x", repository_ids=[small.id])
    with pytest.raises(NotFound):
        knowledge_search(user=user, query="x", repository_ids=[small.id, uuid.uuid4()])
    assert knowledge_search(user=stranger, query="filler", mode="keyword") == []


def test_rag_context_cites_passages_with_markers(user: Any) -> None:
    repository = services.repository_create(user=user, name="docs")
    document = Document.objects.create(
        repository=repository, filename="policy.pdf", content_type="application/pdf", size=1, file_key="k", status="ready"
    )
    texts = ["Employees get 25 days of paid vacation per year.", "The office closes at 7 pm on Fridays."]
    vectors = embeddings.embed(texts)
    for position, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
        Chunk.objects.create(
            document=document, repository=repository, position=position, content=text, embedding=vector,
            embedding_model=embeddings.model_name(), metadata={"page": position + 3, "heading": "Leave"},
        )
    context, sources = rag_context(user=user, query="how many vacation days do I get", repository_ids=[repository.id], limit=2)
    assert context.index("[1] (policy.pdf, page 3") < context.index("25 days")
    assert sources[0]["marker"] == 1 and sources[0]["document_id"] == str(document.id) and sources[0]["page"] == 3
    assert {"document_id", "chunk_id", "score"} <= set(sources[0])
    # By document id alone, too; and another user's ids are 404.
    _context, by_doc = rag_context(user=user, query="office hours", document_ids=[document.id])
    assert by_doc and by_doc[0]["document_id"] == str(document.id)
    with pytest.raises(NotFound):
        rag_context(user=UserFactory(), query="vacation", document_ids=[document.id])
    with pytest.raises(NotFound):
        rag_context(user=UserFactory(), query="vacation", repository_ids=[repository.id])
    assert rag_context(user=user, query="vacation") == ("", [])
