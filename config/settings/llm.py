"""LLM gateway: provider keys from the environment, key encryption at rest, timeouts, retries."""
from __future__ import annotations

from .environment import env

__all__ = [
    "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "GEMINI_API_KEY", "GEMINI_BASE_URL", "LLM_DEFAULT_TIMEOUT",
    "LLM_ENCRYPTION_KEYS", "LLM_RATE_LIMIT_RETRIES", "LLM_REGISTRY_CACHE_SECONDS", "OPENAI_API_KEY", "OPENAI_BASE_URL",
]

# Fernet keys for provider API keys at rest, newest first; empty derives one from SECRET_KEY.
# Rotate: put a new key first, keep the old ones after it, run `manage.py llm_rotate_keys`.
LLM_ENCRYPTION_KEYS = env.list("LLM_ENCRYPTION_KEYS", default=[])
# Providers configured from the environment at start-up (`manage.py seed`).
OPENAI_API_KEY = env("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env("OPENAI_BASE_URL", default="")
ANTHROPIC_API_KEY = env("ANTHROPIC_API_KEY", default="")
ANTHROPIC_BASE_URL = env("ANTHROPIC_BASE_URL", default="")
GEMINI_API_KEY = env("GEMINI_API_KEY", default="")
GEMINI_BASE_URL = env("GEMINI_BASE_URL", default="")
# Default seconds before a provider call times out (each provider can set its own).
LLM_DEFAULT_TIMEOUT = env.float("LLM_DEFAULT_TIMEOUT", default=60.0)
# Upstream 429s are retried this many times with backoff before answering RATE_LIMITED.
LLM_RATE_LIMIT_RETRIES = env.int("LLM_RATE_LIMIT_RETRIES", default=2)
# Seconds the model registry is cached in each process (admin edits clear it at once).
LLM_REGISTRY_CACHE_SECONDS = env.float("LLM_REGISTRY_CACHE_SECONDS", default=30.0)
