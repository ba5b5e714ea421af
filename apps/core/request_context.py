"""The current request id, kept in a context variable so logs and errors can read it anywhere."""
from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)


def request_id_from_header(value: str | None) -> str:
    """Echo a well-formed incoming id; otherwise make a new one (never trust arbitrary text in logs)."""
    if value and _VALID_REQUEST_ID.match(value):
        return value
    return uuid.uuid4().hex


def get_request_id() -> str | None:
    """The id of the request being served, if any."""
    return current_request_id.get()
