"""Logging: one line per record, request id in each; JSON when LOG_FORMAT=json."""
from __future__ import annotations

from typing import Any

from .environment import env

__all__ = ["LOGGING", "LOG_FORMAT", "LOG_LEVEL"]

LOG_FORMAT = env("LOG_FORMAT", default="text")
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "apps.core.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
        "json": {"()": "apps.core.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
            "filters": ["request_id"],
        }
    },
    "root": {"level": LOG_LEVEL, "handlers": ["console"]},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "celery": {"level": "INFO"},
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # The LLM SDKs' HTTP clients log every request at INFO; one line per token stream is noise.
        "httpx2": {"level": "WARNING"},
    },
}
