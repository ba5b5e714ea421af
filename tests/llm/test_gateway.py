"""The OpenAI-compatible gateway: the official `openai` SDK against a real daphne server, and bad input."""
from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from apps.accounts import services as account_services
from apps.llm.models import UsageRecord
from tests.factories import UserFactory
from tests.fakes.llm_server import DEFAULT_REPLY

from .conftest import FakeModels

pytestmark = pytest.mark.live

TOOLS = [{"type": "function", "function": {"name": "search_knowledge", "description": "Search.",
                                           "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}]


def _raw_key(scopes: list[str] | None = None, user: Any = None) -> str:
    _key, raw = account_services.api_key_create(user=user or UserFactory(), name="sdk", scopes=scopes or ["chat"])
    return raw


def _sdk(server: Any, raw: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/api/v1/openai", api_key=raw, max_retries=0, timeout=20)


def _wait_records(count: int, timeout: float = 10.0) -> list[UsageRecord]:
    deadline = time.monotonic() + timeout
    while True:
        records = list(UsageRecord.objects.order_by("created_at"))
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


def test_openai_sdk_non_streaming_and_streaming(fake_models: FakeModels, fake_llm: Any, daphne_server: Any) -> None:
    user = UserFactory()
    raw = _raw_key(user=user)
    sdk = _sdk(daphne_server, raw)

    listed = sdk.models.list()
    assert {m.id for m in listed.data} >= {"fake-openai", "fake-anthropic", "fake-gemini"}

    for model in ("fake-openai", "fake-anthropic", "fake-gemini"):
        completion = sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hello"}], temperature=0.5)
        assert completion.choices[0].message.content == DEFAULT_REPLY
        assert completion.model == model and completion.object == "chat.completion"
        assert completion.usage is not None and completion.usage.completion_tokens > 0

        chunks = list(sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hello"}], stream=True,
                                                  stream_options={"include_usage": True}))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == DEFAULT_REPLY
        assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == chunks[-1].usage.prompt_tokens + chunks[-1].usage.completion_tokens
        finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        assert finish == ["stop"]

    records = _wait_records(6)
    assert len(records) == 6
    assert {r.origin for r in records} == {"gateway"} and all(r.user_id == user.id for r in records)
    assert all(r.api_key_id is not None and r.status == "completed" for r in records)
    assert sorted(r.streamed for r in records) == [False, False, False, True, True, True]


def test_openai_sdk_tools_pass_through(fake_models: FakeModels, fake_llm: Any, daphne_server: Any) -> None:
    sdk = _sdk(daphne_server, _raw_key())
    completion = sdk.chat.completions.create(model="fake-anthropic", messages=[{"role": "user", "content": "find it #tool"}], tools=TOOLS)
    call = completion.choices[0].message.tool_calls[0]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "search_knowledge" and json.loads(call.function.arguments) == {"query": "fake"}
    chunks = list(sdk.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": "find it #tool"}], tools=TOOLS,
                                              stream=True))
    streamed_calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert streamed_calls[0].function.name == "search_knowledge"


def test_gateway_errors_use_openai_shape(fake_models: FakeModels, fake_llm: Any, daphne_server: Any) -> None:
    user = UserFactory()
    sdk = _sdk(daphne_server, _raw_key(user=user))
    with pytest.raises(openai.NotFoundError) as not_found:
        sdk.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    assert not_found.value.body["code"] == "NOT_FOUND" and not_found.value.body["type"] == "not_found_error"
    with pytest.raises(openai.BadRequestError) as bad_role:
        sdk.chat.completions.create(model="fake-openai", messages=[{"role": "wizard", "content": "x"}])
    assert bad_role.value.body["param"] == "messages[0].role"
    with pytest.raises(openai.BadRequestError) as bad_temp:
        sdk.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": "x"}], temperature=7)
    assert bad_temp.value.body["param"] == "temperature"
    # A caller can never steer the upstream call: such parameters are refused, not forwarded.
    with pytest.raises(openai.BadRequestError) as ssrf:
        sdk.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": "x"}],
                                    extra_body={"api_base": "http://169.254.169.254/", "api_key": "mine"})
    assert "api_base" in ssrf.value.message
    with pytest.raises(openai.BadRequestError) as too_big:
        sdk.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": "word " * 3000}])
    assert too_big.value.body["code"] == "VALIDATION_ERROR" and "context window" in too_big.value.message
    assert fake_llm.log == []  # none of these reached the provider
    # Unsupported but known OpenAI parameters are dropped and named.
    response = httpx.post(f"{daphne_server.url}/api/v1/openai/chat/completions", headers={"Authorization": f"Bearer {sdk.api_key}"},
                          json={"model": "fake-openai", "messages": [{"role": "user", "content": "x"}], "top_p": 0.3, "seed": 1})
    assert response.status_code == 200 and response.headers["x-nexus-dropped-params"] == "seed,top_p"
    assert "top_p" not in fake_llm.log[-1].body and "seed" not in fake_llm.log[-1].body
    # Provider down: 503 before streaming starts, in OpenAI's shape; the usage record says so.
    with pytest.raises(openai.InternalServerError) as down:
        list(sdk.chat.completions.create(model="fake-gemini", messages=[{"role": "user", "content": "#fail=500"}], stream=True))
    assert down.value.status_code == 503 and down.value.body["code"] == "MODEL_UNAVAILABLE"
    failed = [r for r in _wait_records(2) if r.status == "failed"]
    assert failed and failed[0].error_code == "MODEL_UNAVAILABLE"
    # Failing after the stream began: an error event, as OpenAI sends it.
    with pytest.raises(openai.APIError):
        list(sdk.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": "#early-close-after=2"}], stream=True))
    # A key without the chat scope, and no key at all.
    with pytest.raises(openai.PermissionDeniedError):
        _sdk(daphne_server, _raw_key(["knowledge"])).chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.AuthenticationError):
        _sdk(daphne_server, "nxk_not-a-real-key").models.list()
    # A model outside the caller's tier.
    from apps.llm import services
    from apps.llm.models import LlmModel

    services.model_update(model=LlmModel.objects.get(name="fake-openai"), tiers=["enterprise"])
    time.sleep(1.2)  # other processes re-read the registry within a second of a change
    with pytest.raises(openai.PermissionDeniedError) as tier:
        sdk.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": "x"}])
    assert tier.value.body["code"] == "FORBIDDEN"


def test_client_disconnect_closes_upstream_and_meters_stopped(fake_models: FakeModels, fake_llm: Any, daphne_server: Any) -> None:
    from apps.accounts.limits import slots_in_use
    from apps.billing.models import CreditReservation

    user = UserFactory()
    raw = _raw_key(user=user)
    body = {"model": "fake-anthropic", "stream": True, "messages": [{"role": "user", "content": "#words=500 #slow=0.02"}]}
    with httpx.Client(timeout=20) as client, client.stream("POST", f"{daphne_server.url}/api/v1/openai/chat/completions",
                                                           headers={"Authorization": f"Bearer {raw}"}, json=body) as response:
        assert response.status_code == 200
        seen = 0
        for line in response.iter_lines():
            if line.startswith("data: ") and '"content"' in line:
                seen += 1
            if seen >= 5:
                break
    logged = fake_llm.wait_for(lambda r: r.api == "anthropic" and r.client_closed)
    assert not logged.completed and logged.chunks_sent < 500
    records = _wait_records(1)
    assert records[0].status == "stopped" and records[0].completion_tokens >= 4
    # The frames' cleanup ran: the concurrency slot is free again and the hold is charged for what was sent.
    deadline = time.monotonic() + 10
    while CreditReservation.objects.filter(account__user=user, status="held").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    hold = CreditReservation.objects.get(account__user=user)
    assert hold.status == "settled" and hold.usage_record_id == records[0].id
    assert slots_in_use(user=user, kind="chat") == 0


def test_the_gateway_counts_the_api_and_chat_limits_and_answers_429_in_openai_shape(fake_models: FakeModels, fake_llm: Any,
                                                                                      daphne_server: Any) -> None:
    """Both per-minute limits are counted (in one Redis call); past the chat one the SDK gets a 429 with Retry-After."""
    import redis
    from django.conf import settings

    from apps.accounts.models import Tier

    Tier.objects.filter(slug="free").update(chat_rpm=2, api_rpm=50)
    store = redis.Redis.from_url(settings.REDIS_URL)
    incr_before = int(store.info("commandstats").get("cmdstat_incr", {}).get("calls", 0))
    sdk = _sdk(daphne_server, _raw_key())
    for _ in range(2):
        raw = sdk.chat.completions.with_raw_response.create(model="fake-openai", messages=[{"role": "user", "content": "Hi"}])
        assert raw.http_response.status_code == 200
        # The tightest limit is the one the headers show: chat, 2 a minute.
        assert raw.headers["X-RateLimit-Limit"] == "2"
    assert int(store.info("commandstats")["cmdstat_incr"]["calls"]) - incr_before == 4  # api + chat, twice
    with pytest.raises(openai.RateLimitError) as refused:
        sdk.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": "Hi"}])
    assert refused.value.status_code == 429 and int(refused.value.response.headers["Retry-After"]) >= 1
    assert refused.value.body["type"] == "rate_limit_error" and refused.value.body["code"] == "RATE_LIMITED"


def test_a_burst_of_gateway_calls_keeps_the_process_within_its_database_bound(fake_models: FakeModels, fake_llm: Any,
                                                                                 tmp_path: Any) -> None:
    """64 requests in flight, half of them calls: the holds on the loop's own connections, which count in DATABASE_POOL_MAX with the threads' pool."""
    import asyncio

    import aiohttp
    from django.db import connection

    from apps.accounts.models import Tier
    from apps.billing.models import CreditReservation
    from tests.conftest import start_daphne, stop_process
    from tests.core.test_connections import _server_db_connections

    Tier.objects.update(api_rpm=10**6, chat_rpm=10**6, chat_concurrent=1000)
    user = UserFactory()
    raw = _raw_key(user=user)
    calls, in_flight, pool_max = 300, 64, 6
    server = start_daphne(tmp_path, DATABASE_POOL_MAX=str(pool_max), DATABASE_ASYNC_POOL_MAX="2")
    peak = 0

    def server_connections() -> int:
        try:
            return _server_db_connections(server.process.pid)
        finally:
            connection.close()  # the sampling thread's own

    async def burst() -> dict[int, int]:
        nonlocal peak
        statuses: dict[int, int] = {}
        queue = list(range(calls))
        body = {"model": "fake-openai", "messages": [{"role": "user", "content": "Hi"}]}
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {raw}"}) as session:
            async def worker() -> None:
                nonlocal peak
                while queue:
                    # Keyed reads between the calls fill the threads' pool while the loop's holds use its own.
                    if queue.pop() % 2:
                        response = await session.get(f"{server.url}/api/v1/users/me")
                    else:
                        response = await session.post(f"{server.url}/api/v1/openai/chat/completions", json=body)
                    async with response:
                        await response.read()
                        statuses[response.status] = statuses.get(response.status, 0) + 1
                    if len(queue) % 50 == 0:
                        peak = max(peak, await asyncio.to_thread(server_connections))

            await asyncio.gather(*(worker() for _ in range(in_flight)))
        return statuses

    try:
        statuses = asyncio.run(burst())
        assert statuses == {200: calls}, server.log()
        assert 0 < peak <= pool_max and _server_db_connections(server.process.pid) <= pool_max, (peak, server.log())
        # Every call held and settled (the settlements are written behind the answers).
        deadline = time.monotonic() + 10
        while CreditReservation.objects.filter(account__user=user, status="settled").count() < calls // 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert CreditReservation.objects.filter(account__user=user, status="settled").count() == calls // 2
        assert len(_wait_records(calls // 2)) == calls // 2
    finally:
        stop_process(server.process)


def test_the_gateway_answers_503_in_openai_shape_while_postgresql_is_unreachable(tmp_path: Any) -> None:
    """The database gone (here: a port nothing listens on): both routes answer 503 with Retry-After in OpenAI's error shape, never 500."""
    from apps.core.runtime.embedded import free_port
    from tests.conftest import start_daphne, stop_process

    server = start_daphne(tmp_path, DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/nexus", DATABASE_POOL_MAX="4",
                          DATABASE_POOL_TIMEOUT="0.3")  # /health answers (503) within the start-up probe's second
    try:
        sdk = openai.OpenAI(base_url=f"{server.url}/api/v1/openai", api_key="nxk_" + "x" * 40, max_retries=0, timeout=20)
        with pytest.raises(openai.InternalServerError) as completions:
            sdk.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": "Hi"}])
        with pytest.raises(openai.InternalServerError) as models:
            sdk.models.list()
        for refused in (completions.value, models.value):
            assert refused.status_code == 503, server.log()
            assert refused.body["type"] == "service_unavailable_error" and refused.body["code"] == "SERVICE_UNAVAILABLE"
            assert int(refused.response.headers["Retry-After"]) >= 1
    finally:
        stop_process(server.process)
