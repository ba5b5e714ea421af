"""A limit counted outside a request (`ratelimit_count`) goes through the same one-round-trip count as a request's."""
from __future__ import annotations

import time
import uuid

import pytest
from django.test import RequestFactory

from apps.core.errors import RateLimited
from apps.core.ratelimit import Limit, RateLimitState, ratelimit_count, ratelimit_hits


def test_a_service_count_and_a_request_share_one_counter() -> None:
    """What a service counts and what requests count for one key use up one budget, and refusals read the same."""
    group, key = f"test-{uuid.uuid4().hex}", "user-1"
    first = ratelimit_count(group=group, key=key, rate="4/h")
    assert isinstance(first, RateLimitState)
    assert (first.limit, first.remaining) == (4, 3)
    assert time.time() < first.reset <= time.time() + 3600 + 1

    request = RequestFactory().get("/")
    [second] = ratelimit_hits(request, [Limit(group, key, "4/h")])
    assert (second.limit, second.remaining) == (4, 2)
    assert request.ratelimit_state == second  # type: ignore[attr-defined]  # a request keeps its state for the headers

    third = ratelimit_count(group=group, key=key, rate="4/h")
    assert third is not None and third.remaining == 1
    assert ratelimit_count(group=group, key="user-2", rate="4/h").remaining == 3  # type: ignore[union-attr]  # another key's budget

    assert ratelimit_count(group=group, key=key, rate="4/h").remaining == 0  # type: ignore[union-attr]
    with pytest.raises(RateLimited) as by_service:
        ratelimit_count(group=group, key=key, rate="4/h")
    with pytest.raises(RateLimited) as by_request:
        ratelimit_hits(RequestFactory().get("/"), [Limit(group, key, "4/h")])
    for caught in (by_service.value, by_request.value):
        assert caught.status_code == 429 and 0 < caught.retry_after <= 3600
        assert caught.message.startswith("Rate limit of 4/h exceeded; retry in ")
