"""Request body parsers with size and depth bounds (DRF's own JSON parser has neither)."""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.parsers import JSONParser

from .errors import PayloadTooLarge, ValidationError

# Strings are skipped whole, so brackets inside them never count toward the depth.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_OPEN = frozenset(b"[{")


def json_depth_exceeds(raw: bytes, max_depth: int) -> bool:
    """True when the JSON text nests arrays/objects deeper than `max_depth`; scans bytes, builds nothing."""
    if raw.count(b"[") + raw.count(b"{") <= max_depth:  # cannot be deeper than its brackets
        return False
    depth = 0
    for match in _TOKENS.finditer(raw):
        char = match.group()
        if len(char) != 1:
            continue  # a string
        if char[0] in _OPEN:
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def json_loads_bounded(raw: bytes | str, *, max_bytes: int | None = None, max_depth: int | None = None) -> Any:
    """Parse a JSON body after checking its size (413) and nesting depth (400), before any Python object is built."""
    data = raw.encode() if isinstance(raw, str) else raw
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE if max_bytes is None else max_bytes
    if limit is not None and len(data) > limit:
        raise PayloadTooLarge(f"The JSON body is larger than {limit} bytes.")
    depth = settings.JSON_MAX_DEPTH if max_depth is None else max_depth
    if json_depth_exceeds(data, depth):
        raise ValidationError(f"The JSON body is nested deeper than {depth} levels.")
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ValidationError(f"The body is not valid JSON: {exc}") from None


class LimitedJSONParser(JSONParser):
    """JSON bodies up to DATA_UPLOAD_MAX_MEMORY_SIZE bytes (413) and JSON_MAX_DEPTH levels (400)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        if stream is None:
            return None
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        return json_loads_bounded(raw)
