"""Token-aware chunking with overlap, keeping each chunk's page and heading.

Windows are counted in the embedding model's own WordPiece tokens (MiniLM reads at most 256),
so no chunk is silently truncated by the model. Long sections are tokenized in pieces and the
token offsets kept in numpy arrays, so a 10 MB text costs tens of MB, not hundreds.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .embeddings import chunking_tokenizer
from .extraction import ExtractionError

# Characters tokenized at once; cut at whitespace so no word is split between pieces.
_PIECE_CHARS = 100_000


@dataclass
class TextChunk:
    """One passage ready to embed."""

    content: str
    token_count: int
    metadata: dict[str, Any] = field(default_factory=dict)


def _pieces(text: str) -> Iterator[tuple[int, str]]:
    start = 0
    while start < len(text):
        end = min(start + _PIECE_CHARS, len(text))
        if end < len(text):
            cut = text.rfind(" ", start + _PIECE_CHARS // 2, end)
            cut = max(cut, text.rfind("\n", start + _PIECE_CHARS // 2, end))
            if cut > start:
                end = cut
        yield start, text[start:end]
        start = end


def _token_offsets(text: str, max_tokens: int) -> np.ndarray:
    """(n, 2) character offsets of the tokens of `text`; raises past `max_tokens`."""
    tokenizer = chunking_tokenizer()
    arrays: list[np.ndarray] = []
    count = 0
    for base, piece in _pieces(text):
        encoding = tokenizer.encode(piece, add_special_tokens=False)
        if not encoding.offsets:
            continue
        offsets = np.asarray(encoding.offsets, dtype=np.int64) + base
        arrays.append(offsets)
        count += len(offsets)
        if count > max_tokens:
            raise ExtractionError(f"The document is too long to index (more than {max_tokens:,} tokens).")
    if not arrays:
        return np.zeros((0, 2), dtype=np.int64)
    return np.concatenate(arrays)


def chunk_sections(
    sections: Iterable[dict[str, Any]], *, chunk_tokens: int, overlap_tokens: int, max_chunks: int
) -> list[TextChunk]:
    """Split sections into windows of `chunk_tokens` tokens that overlap by `overlap_tokens`."""
    if chunk_tokens <= 0 or not 0 <= overlap_tokens < chunk_tokens:
        raise ValueError("chunk_tokens must be positive and overlap_tokens smaller than it.")
    step = chunk_tokens - overlap_tokens
    chunks: list[TextChunk] = []
    for section in sections:
        text: str = section.get("text") or ""
        if not text.strip():
            continue
        metadata = {"page": section.get("page"), "heading": section.get("heading")}
        if section.get("ocr"):
            metadata["ocr"] = True
        budget = (max_chunks - len(chunks) + 1) * step + chunk_tokens
        offsets = _token_offsets(text, budget)
        total = len(offsets)
        start = 0
        while start < total:
            end = min(start + chunk_tokens, total)
            content = text[int(offsets[start, 0]) : int(offsets[end - 1, 1])].strip()
            if content:
                chunks.append(TextChunk(content=content, token_count=end - start, metadata=dict(metadata)))
                if len(chunks) > max_chunks:
                    raise ExtractionError(f"The document would make more than {max_chunks:,} chunks; split it or raise the limit.")
            if end == total:
                break
            start += step
    return chunks
