"""Log formatting: every record carries the request id; JSON lines when LOG_FORMAT=json."""
from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from .request_context import get_request_id

# Anything that looks like a credential is masked before a record leaves the process.
_SECRET_PATTERNS = [
    re.compile(r"(nxk_)[A-Za-z0-9_\-]{6,}"),
    re.compile(r"(Bearer\s+)[A-Za-z0-9._\-]{8,}", re.IGNORECASE),
    # A JWT anywhere (a refresh token in a JSON body, a ?token= query): header.payload.signature.
    re.compile(r"(eyJ)[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+"),
    # key=value, "key": "value" (JSON) and 'key': 'value' (a logged Python dict).
    re.compile(r"((?:password|passwd|secret|token|api_key|refresh_token|access_token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',&]+", re.IGNORECASE),
]


def scrub(text: str) -> str:
    """Mask keys, bearer tokens and password-like values in a log message."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***", text)
    return text


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record and scrubs secrets from its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = get_request_id() or "-"
        try:
            message = record.getMessage()
        except Exception:  # a malformed record must not break logging
            return True
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or get_request_id(),
        }
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)
