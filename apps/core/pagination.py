"""Limit/offset pagination exactly as API.md: default 50, above 200 treated as 200, bad values 400."""
from __future__ import annotations

from typing import Any

from rest_framework import pagination
from rest_framework.request import Request

from .errors import ValidationError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _non_negative_int(raw: str, *, name: str) -> int:
    try:
        value = int(raw, 10)
    except (TypeError, ValueError):
        raise ValidationError(f"`{name}` must be a non-negative integer.", details={name: ["Must be a non-negative integer."]}) from None
    if value < 0:
        raise ValidationError(f"`{name}` must be a non-negative integer.", details={name: ["Must be a non-negative integer."]})
    return value


def parse_limit_offset(query: Any) -> tuple[int, int]:
    """(limit, offset) from query parameters; shared by the paginator and non-queryset lists."""
    raw_limit = query.get("limit")
    raw_offset = query.get("offset")
    limit = DEFAULT_LIMIT if raw_limit in (None, "") else _non_negative_int(raw_limit, name="limit")
    offset = 0 if raw_offset in (None, "") else _non_negative_int(raw_offset, name="offset")
    if limit == 0:
        limit = DEFAULT_LIMIT
    return min(limit, MAX_LIMIT), offset


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """DRF's limit/offset paginator with API.md's bounds and strict validation."""

    default_limit = DEFAULT_LIMIT
    max_limit = MAX_LIMIT

    def get_limit(self, request: Request) -> int:
        return parse_limit_offset(request.query_params)[0]

    def get_offset(self, request: Request) -> int:
        return parse_limit_offset(request.query_params)[1]

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        params = super().get_schema_operation_parameters(view)
        for param in params:
            param["schema"]["minimum"] = 0  # a negative value answers 400
            if param["name"] == "limit":
                param["description"] = f"Page size (default {DEFAULT_LIMIT}; above {MAX_LIMIT} is treated as {MAX_LIMIT})."
        return params


