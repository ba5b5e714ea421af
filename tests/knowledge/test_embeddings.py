"""Embeddings: the offline MiniLM ONNX backend and an OpenAI-compatible endpoint on loopback."""
from __future__ import annotations

import numpy as np
import pytest

from apps.knowledge import embeddings
from apps.knowledge.errors import EmbeddingUnavailable
from tests.fakes.embeddings_server import embeddings_server


def test_onnx_backend_gives_unit_vectors_that_rank_meaning() -> None:
    vectors = np.array(
        embeddings.embed(["How do I reset my password?", "Steps to recover a forgotten password", "Tomatoes need full sun"])
    )
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert embeddings.model_name() == "all-MiniLM-L6-v2-onnx-int8"


def test_onnx_batches_match_single_texts(settings) -> None:  # type: ignore[no-untyped-def]
    settings.KNOWLEDGE_EMBED_BATCH_SIZE = 2
    texts = ["short", "a somewhat longer sentence about databases and indexes", "third"]
    batched = np.array(embeddings.embed(texts))
    single = np.array([embeddings.embed([text])[0] for text in texts])
    # Padding must not change a vector (mean pooling is over the attention mask only).
    assert np.allclose(batched, single, atol=1e-4)


def test_model_files_come_from_installed_packages() -> None:
    assert embeddings.onnx_model_path().name == "model.onnx"
    assert embeddings.tokenizer_path().name == "tokenizer.json"


@pytest.fixture
def openai_backend(settings):  # type: ignore[no-untyped-def]
    with embeddings_server() as server:
        settings.KNOWLEDGE_EMBEDDINGS_BACKEND = "openai"
        settings.KNOWLEDGE_EMBEDDINGS_URL = server.url
        settings.KNOWLEDGE_EMBEDDINGS_MODEL = "text-embedding-3-small"
        settings.KNOWLEDGE_EMBEDDINGS_API_KEY = "test-embeddings-key"
        settings.KNOWLEDGE_EMBEDDINGS_SEND_DIMENSIONS = True
        settings.KNOWLEDGE_EMBED_BATCH_SIZE = 2
        yield server


def test_openai_compatible_backend_batches_through_the_sdk(openai_backend) -> None:  # type: ignore[no-untyped-def]
    vectors = embeddings.embed(["alpha beta", "beta gamma", "delta"])
    assert len(vectors) == 3 and all(len(vector) == 384 for vector in vectors)
    assert [len(request["input"]) for request in openai_backend.requests] == [2, 1]
    assert openai_backend.requests[0]["dimensions"] == 384
    assert embeddings.model_name() == "openai:text-embedding-3-small"


def test_openai_backend_down_is_embedding_unavailable(openai_backend) -> None:  # type: ignore[no-untyped-def]
    openai_backend.fail = True
    with pytest.raises(EmbeddingUnavailable) as caught:
        embeddings.embed(["alpha"])
    assert caught.value.status_code == 503


def test_openai_backend_with_the_wrong_width_is_refused(openai_backend, settings) -> None:  # type: ignore[no-untyped-def]
    settings.KNOWLEDGE_EMBEDDINGS_SEND_DIMENSIONS = False
    openai_backend.dimensions = 1536
    with pytest.raises(EmbeddingUnavailable) as caught:
        embeddings.embed(["alpha"])
    assert "1536" in caught.value.message
