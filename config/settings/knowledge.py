"""Knowledge: uploads, extraction limits, embeddings, chunking, ingest retries, vector search."""
from __future__ import annotations

from .environment import env

__all__ = [
    "KNOWLEDGE_ALLOWED_TYPES",
    "KNOWLEDGE_CHUNK_OVERLAP_TOKENS",
    "KNOWLEDGE_CHUNK_TOKENS",
    "KNOWLEDGE_EMBEDDINGS_API_KEY",
    "KNOWLEDGE_EMBEDDINGS_BACKEND",
    "KNOWLEDGE_EMBEDDINGS_MODEL",
    "KNOWLEDGE_EMBEDDINGS_SEND_DIMENSIONS",
    "KNOWLEDGE_EMBEDDINGS_TIMEOUT",
    "KNOWLEDGE_EMBEDDINGS_URL",
    "KNOWLEDGE_EMBED_BATCH_SIZE",
    "KNOWLEDGE_EXTRACT_MEMORY_MB",
    "KNOWLEDGE_OCR_MEMORY_MB",
    "KNOWLEDGE_EXTRACT_TIMEOUT_SECONDS",
    "KNOWLEDGE_HNSW_EF_SEARCH",
    "KNOWLEDGE_INGEST_MAX_ATTEMPTS",
    "KNOWLEDGE_INGEST_STALE_SECONDS",
    "KNOWLEDGE_MAX_CHUNKS_PER_DOCUMENT",
    "KNOWLEDGE_MAX_UPLOAD_BYTES",
    "KNOWLEDGE_ONNX_THREADS",
    "KNOWLEDGE_PRESIGNED_EXPIRES_SECONDS",
]

# Uploads: the kinds accepted (pdf, docx, txt, md, html, csv, json) and the largest file.
KNOWLEDGE_ALLOWED_TYPES = env.list("KNOWLEDGE_ALLOWED_TYPES", default=["pdf", "docx", "txt", "md", "html", "csv", "json", "png", "jpeg", "webp"])
KNOWLEDGE_MAX_UPLOAD_BYTES = env.int("KNOWLEDGE_MAX_UPLOAD_BYTES", default=10 * 1024 * 1024)
KNOWLEDGE_PRESIGNED_EXPIRES_SECONDS = env.int("KNOWLEDGE_PRESIGNED_EXPIRES_SECONDS", default=900)
# Embeddings: "onnx" (MiniLM int8 shipped in wheels, offline) or "openai" (any OpenAI-compatible /embeddings).
KNOWLEDGE_EMBEDDINGS_BACKEND = env("KNOWLEDGE_EMBEDDINGS_BACKEND", default="onnx")
KNOWLEDGE_EMBEDDINGS_URL = env("KNOWLEDGE_EMBEDDINGS_URL", default="")
KNOWLEDGE_EMBEDDINGS_MODEL = env("KNOWLEDGE_EMBEDDINGS_MODEL", default="")
KNOWLEDGE_EMBEDDINGS_API_KEY = env("KNOWLEDGE_EMBEDDINGS_API_KEY", default="")
KNOWLEDGE_EMBEDDINGS_SEND_DIMENSIONS = env.bool("KNOWLEDGE_EMBEDDINGS_SEND_DIMENSIONS", default=False)
KNOWLEDGE_EMBEDDINGS_TIMEOUT = env.float("KNOWLEDGE_EMBEDDINGS_TIMEOUT", default=30.0)
KNOWLEDGE_EMBED_BATCH_SIZE = env.int("KNOWLEDGE_EMBED_BATCH_SIZE", default=32)
KNOWLEDGE_ONNX_THREADS = env.int("KNOWLEDGE_ONNX_THREADS", default=0)  # 0: onnxruntime decides
# Chunking, in the embedding model's tokens.
KNOWLEDGE_CHUNK_TOKENS = env.int("KNOWLEDGE_CHUNK_TOKENS", default=200)
KNOWLEDGE_CHUNK_OVERLAP_TOKENS = env.int("KNOWLEDGE_CHUNK_OVERLAP_TOKENS", default=40)
KNOWLEDGE_MAX_CHUNKS_PER_DOCUMENT = env.int("KNOWLEDGE_MAX_CHUNKS_PER_DOCUMENT", default=20_000)
# Extraction runs in a child process bounded in time and address space.
KNOWLEDGE_EXTRACT_TIMEOUT_SECONDS = env.float("KNOWLEDGE_EXTRACT_TIMEOUT_SECONDS", default=60.0)
KNOWLEDGE_EXTRACT_MEMORY_MB = env.int("KNOWLEDGE_EXTRACT_MEMORY_MB", default=1024)
# Address-space limit of an extraction that may need OCR (images, PDFs): the ONNX runtime reserves more.
KNOWLEDGE_OCR_MEMORY_MB = env.int("KNOWLEDGE_OCR_MEMORY_MB", default=2048)
# A document in `processing` longer than this is taken to have lost its worker; retried up to the attempts.
KNOWLEDGE_INGEST_STALE_SECONDS = env.int("KNOWLEDGE_INGEST_STALE_SECONDS", default=900)
KNOWLEDGE_INGEST_MAX_ATTEMPTS = env.int("KNOWLEDGE_INGEST_MAX_ATTEMPTS", default=3)
# Search: pgvector HNSW candidate list size. pgvector's default (40) measured recall@10 0.93 on 100k
# chunks; 100 gave 0.99 with p95 under 10 ms (bench/bench_knowledge.py).
KNOWLEDGE_HNSW_EF_SEARCH = env.int("KNOWLEDGE_HNSW_EF_SEARCH", default=100)
