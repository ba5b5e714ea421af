"""Token-aware chunking with overlap and metadata."""
from __future__ import annotations

import pytest

from apps.knowledge.chunking import chunk_sections
from apps.knowledge.embeddings import chunking_tokenizer
from apps.knowledge.extraction import ExtractionError


def _tokens(text: str) -> int:
    return len(chunking_tokenizer().encode(text, add_special_tokens=False).ids)


def test_windows_hold_at_most_the_token_budget_and_overlap() -> None:
    words = [f"word{i}" for i in range(600)]
    chunks = chunk_sections([{"text": " ".join(words), "page": 4, "heading": "Intro"}], chunk_tokens=50, overlap_tokens=10, max_chunks=1000)
    assert len(chunks) > 5
    assert all(chunk.token_count <= 50 and _tokens(chunk.content) <= 52 for chunk in chunks)
    assert all(chunk.metadata == {"page": 4, "heading": "Intro"} for chunk in chunks)
    # Consecutive chunks share text (the overlap), and together they cover every word.
    for first, second in zip(chunks, chunks[1:], strict=False):
        assert first.content.split()[-1] in second.content
    covered = " ".join(chunk.content for chunk in chunks)
    assert all(word in covered for word in words)


def test_sections_never_share_a_chunk() -> None:
    chunks = chunk_sections(
        [{"text": "page one text", "page": 1, "heading": None}, {"text": "page two text", "page": 2, "heading": None}],
        chunk_tokens=100,
        overlap_tokens=10,
        max_chunks=10,
    )
    assert [(chunk.content, chunk.metadata["page"]) for chunk in chunks] == [("page one text", 1), ("page two text", 2)]


def test_too_many_chunks_is_an_extraction_error() -> None:
    with pytest.raises(ExtractionError):
        chunk_sections([{"text": "word " * 5000}], chunk_tokens=50, overlap_tokens=0, max_chunks=10)


def test_long_text_is_tokenized_in_pieces_without_losing_words() -> None:
    text = " ".join(f"w{i}" for i in range(60_000))  # longer than one tokenizer piece
    chunks = chunk_sections([{"text": text}], chunk_tokens=200, overlap_tokens=0, max_chunks=100_000)
    assert chunks[-1].content.endswith("w59999")
    assert sum(chunk.token_count for chunk in chunks) == _tokens(text)
