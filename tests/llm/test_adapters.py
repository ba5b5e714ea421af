"""Each adapter through its official SDK against the loopback fake, via `apps.llm.client`: events, usage, metering."""
from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from apps.llm import client
from apps.llm.errors import ProviderAuthFailed, ProviderRateLimited, ProviderUnavailable
from apps.llm.models import UsageRecord
from apps.llm.providers.base import LlmEvent
from apps.llm.tokens import estimate_tokens
from tests.factories import UserFactory
from tests.fakes.llm_server import DEFAULT_REPLY, REASONING
from tests.sockets import connections_to

from .conftest import KINDS, FakeModels

pytestmark = pytest.mark.django_db(transaction=True)

TOOLS = [{"type": "function", "function": {"name": "search_knowledge", "description": "Search the knowledge base.",
                                           "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}]


def _records() -> list[UsageRecord]:
    return list(UsageRecord.objects.order_by("created_at"))


async def _collect(user: Any, model: str, content: str, **kwargs: Any) -> list[LlmEvent]:
    return [event async for event in client.stream_chat(user=user, model=model, messages=[{"role": "user", "content": content}], **kwargs)]


def _expected_cost(prompt: int, completion: int) -> Decimal:
    return ((Decimal(prompt) * 100 + Decimal(completion) * 400) / 1_000_000).quantize(Decimal("0.000001"))


@pytest.mark.parametrize("kind", KINDS)
async def test_stream_yields_text_and_provider_usage(kind: str, fake_models: FakeModels, fake_llm: Any) -> None:
    user = await sync_to_async(UserFactory)()
    events = await _collect(user, f"fake-{kind}", "Say hello, please.", system_prompt="Be brief.", temperature=0.2)
    text = "".join(e.content for e in events if e.type == "text-delta")
    assert text == DEFAULT_REPLY
    finish = events[-1]
    assert finish.type == "finish" and finish.finish_reason == "stop"
    logged = fake_llm.wait_for(lambda r: r.api == kind and r.completed)
    assert logged.stream is True
    # The numbers are the provider's own report (the fake counts differently from Nexus's estimate).
    assert (finish.usage.prompt_tokens, finish.usage.completion_tokens) == (logged.usage["prompt_tokens"], logged.usage["completion_tokens"])
    assert finish.usage.source == "provider"
    assert finish.usage.cost == _expected_cost(logged.usage["prompt_tokens"], logged.usage["completion_tokens"])
    if kind == "openai":
        assert logged.body["stream_options"] == {"include_usage": True}
    records = await sync_to_async(_records)()
    assert len(records) == 1
    record = records[0]
    assert str(record.id) == finish.usage_record_id
    assert (record.status, record.usage_source, record.streamed, record.model_name) == ("completed", "provider", True, f"fake-{kind}")
    assert record.prompt_tokens == logged.usage["prompt_tokens"] and record.completion_tokens == logged.usage["completion_tokens"]
    assert record.cost == finish.usage.cost and record.user_id == user.id
    assert record.ttft_ms is not None and record.latency_ms >= record.ttft_ms


@pytest.mark.parametrize("kind", KINDS)
async def test_complete_returns_whole_answer_and_meters(kind: str, fake_models: FakeModels, fake_llm: Any) -> None:
    user = await sync_to_async(UserFactory)()
    result = await client.complete_chat(user=user, model=f"fake-{kind}", messages=[{"role": "user", "content": "Hi #reasoning"}])
    assert result.text == DEFAULT_REPLY
    assert result.reasoning == REASONING
    logged = fake_llm.wait_for(lambda r: r.api == kind and r.completed)
    assert logged.stream is False
    assert result.usage.prompt_tokens == logged.usage["prompt_tokens"]
    assert result.usage.completion_tokens == logged.usage["completion_tokens"]
    record = (await sync_to_async(_records)())[0]
    assert (record.status, record.streamed, record.completion_tokens) == ("completed", False, logged.usage["completion_tokens"])
    assert str(record.id) == result.usage_record_id


@pytest.mark.parametrize("kind", KINDS)
async def test_stream_reasoning_deltas_and_reasoning_tokens(kind: str, fake_models: FakeModels, fake_llm: Any) -> None:
    user = await sync_to_async(UserFactory)()
    events = await _collect(user, f"fake-{kind}", "Think first #reasoning")
    reasoning = "".join(e.content for e in events if e.type == "reasoning-delta")
    assert reasoning == REASONING
    first_text = next(i for i, e in enumerate(events) if e.type == "text-delta")
    assert all(e.type == "reasoning-delta" for e in events[:first_text])
    finish = events[-1]
    logged = fake_llm.wait_for(lambda r: r.api == kind and r.completed)
    # Completion tokens include reasoning tokens, for every vendor.
    assert finish.usage.completion_tokens == logged.usage["completion_tokens"]
    assert finish.usage.reasoning_tokens > 0


@pytest.mark.parametrize("kind", KINDS)
async def test_tool_calls_pass_through(kind: str, fake_models: FakeModels, fake_llm: Any) -> None:
    user = await sync_to_async(UserFactory)()
    events = await _collect(user, f"fake-{kind}", "Look it up #tool", tools=TOOLS)
    calls = [e for e in events if e.type == "tool-call"]
    assert len(calls) == 1
    assert calls[0].tool_name == "search_knowledge" and calls[0].args == {"query": "fake"}
    assert events[-1].finish_reason == "tool_calls"
    logged = fake_llm.wait_for(lambda r: r.api == kind)
    assert "search_knowledge" in str(logged.body.get("tools"))
    # The tool result goes back in the vendor's own format.
    follow_up = [
        {"role": "user", "content": "Look it up"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": calls[0].tool_call_id, "type": "function",
                                                               "function": {"name": "search_knowledge", "arguments": '{"query": "fake"}'}}]},
        {"role": "tool", "tool_call_id": calls[0].tool_call_id, "content": "Nexus is a platform."},
    ]
    fake_llm.clear()
    result = await client.complete_chat(user=user, model=f"fake-{kind}", messages=follow_up, tools=TOOLS)
    assert result.text == DEFAULT_REPLY
    body = str(fake_llm.wait_for(lambda r: r.api == kind).body)
    assert "Nexus is a platform." in body


@pytest.mark.parametrize("kind", KINDS)
async def test_stopped_stream_closes_upstream_and_meters_what_arrived(kind: str, fake_models: FakeModels, fake_llm: Any) -> None:
    user = await sync_to_async(UserFactory)()
    stream = client.stream_chat(user=user, model=f"fake-{kind}", messages=[{"role": "user", "content": "Long one #words=400 #slow=0.02"}])
    received: list[str] = []
    async for event in stream:
        if event.type == "text-delta":
            received.append(event.content)
        if len(received) == 5:
            break
    await stream.aclose()
    logged = fake_llm.wait_for(lambda r: r.api == kind and r.client_closed)
    assert not logged.completed and logged.chunks_sent < 400
    record = (await sync_to_async(_records)())[0]
    assert record.status == "stopped" and record.usage_source == "estimated"
    assert record.completion_tokens == estimate_tokens("".join(received))
    assert record.prompt_tokens > 0
    assert record.cost == _expected_cost(record.prompt_tokens, record.completion_tokens)


@pytest.mark.parametrize("kind", KINDS)
async def test_cancelled_consumer_is_metered_as_stopped(kind: str, fake_models: FakeModels, fake_llm: Any) -> None:
    user = await sync_to_async(UserFactory)()
    got_one = asyncio.Event()

    async def consume() -> None:
        async for event in client.stream_chat(user=user, model=f"fake-{kind}", messages=[{"role": "user", "content": "#words=400 #slow=0.05"}]):
            if event.type == "text-delta":
                got_one.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_one.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    fake_llm.wait_for(lambda r: r.api == kind and r.client_closed)
    record = (await sync_to_async(_records)())[0]
    assert record.status == "stopped" and record.completion_tokens >= 1


@pytest.mark.parametrize("kind", KINDS)
async def test_stream_without_usage_report_is_counted_locally(kind: str, fake_models: FakeModels, fake_llm: Any) -> None:
    user = await sync_to_async(UserFactory)()
    events = await _collect(user, f"fake-{kind}", "Quiet provider #no-usage")
    finish = events[-1]
    text = "".join(e.content for e in events if e.type == "text-delta")
    assert finish.usage.source == "estimated"
    assert finish.usage.completion_tokens == estimate_tokens(text)
    record = (await sync_to_async(_records)())[0]
    assert (record.status, record.usage_source) == ("completed", "estimated")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("directive", ["#early-close-after=3", "#malformed-after=3"])
async def test_stream_broken_midway_fails_and_meters_partial_output(kind: str, directive: str, fake_models: FakeModels, fake_llm: Any) -> None:
    user = await sync_to_async(UserFactory)()
    received: list[str] = []
    with pytest.raises(ProviderUnavailable) as caught:
        async for event in client.stream_chat(user=user, model=f"fake-{kind}", messages=[{"role": "user", "content": f"#words=50 {directive}"}]):
            if event.type == "text-delta":
                received.append(event.content)
    assert caught.value.status_code == 503 and caught.value.code == "MODEL_UNAVAILABLE"
    assert "timed out" not in caught.value.message  # a dropped connection is not a timeout
    assert len(received) == 3
    record = (await sync_to_async(_records)())[0]
    assert (record.status, record.error_code) == ("failed", "MODEL_UNAVAILABLE")
    assert record.completion_tokens == estimate_tokens("".join(received))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stream", [True, False])
async def test_provider_500_is_model_unavailable(kind: str, stream: bool, fake_models: FakeModels, fake_llm: Any) -> None:
    user = await sync_to_async(UserFactory)()
    messages = [{"role": "user", "content": "#fail=500"}]
    with pytest.raises(ProviderUnavailable):
        if stream:
            await _collect(user, f"fake-{kind}", "#fail=500")
        else:
            await client.complete_chat(user=user, model=f"fake-{kind}", messages=messages)
    record = (await sync_to_async(_records)())[0]
    assert (record.status, record.error_code, record.prompt_tokens, record.completion_tokens, record.cost) == (
        "failed", "MODEL_UNAVAILABLE", 0, 0, Decimal(0))
    assert len(fake_llm.log) == 1  # a 5xx is not retried


@pytest.mark.parametrize("kind", KINDS)
async def test_provider_rejecting_our_key_tells_the_admin(kind: str, fake_models: FakeModels, fake_llm: Any) -> None:
    user = await sync_to_async(UserFactory)()
    with pytest.raises(ProviderAuthFailed) as caught:
        await _collect(user, f"fake-{kind}", "#fail=401")
    assert caught.value.status_code == 503
    assert "administrator" in caught.value.message and "Providers" in caught.value.message


@pytest.mark.parametrize("kind", KINDS)
async def test_upstream_429_is_retried_then_rate_limited(kind: str, fake_models: FakeModels, fake_llm: Any, settings: Any) -> None:
    settings.LLM_RATE_LIMIT_RETRIES = 2
    user = await sync_to_async(UserFactory)()
    with pytest.raises(ProviderRateLimited) as caught:
        await _collect(user, f"fake-{kind}", "#429")
    assert caught.value.status_code == 429 and caught.value.code == "RATE_LIMITED"
    assert len([r for r in fake_llm.log if r.api == kind]) == 3  # the first try and two retries
    fake_llm.clear()
    events = await _collect(user, f"fake-{kind}", f"#429-once {kind} retry")
    assert events[-1].type == "finish"
    assert [r.status for r in fake_llm.log] == [429, 200]


@pytest.mark.parametrize("kind", KINDS)
async def test_provider_that_hangs_times_out(kind: str, fake_models: FakeModels, fake_llm: Any) -> None:
    from apps.llm import services
    from apps.llm.selectors import registry

    provider = fake_models.providers[kind]
    await sync_to_async(services.provider_update)(provider=provider, timeout_seconds=0.3)
    registry.forget()
    user = await sync_to_async(UserFactory)()
    with pytest.raises(ProviderUnavailable) as caught:
        await _collect(user, f"fake-{kind}", "#hang")
    assert "timed out" in caught.value.message
    record = (await sync_to_async(_records)())[0]
    assert record.status == "failed"
    fake_llm.wait_for(lambda r: r.api == kind and r.client_closed)


async def test_local_offline_responder_streams_and_meters(committed_db: None) -> None:
    from apps.llm.seeds import LOCAL_MODEL, seed_catalogue

    await sync_to_async(seed_catalogue)()
    user = await sync_to_async(UserFactory)()
    events = await _collect(user, LOCAL_MODEL, "Hello there")
    text = "".join(e.content for e in events if e.type == "text-delta")
    assert "not an AI model" in text and "Hello there" in text
    assert events[-1].usage.completion_tokens > 0 and events[-1].usage.cost == 0
    record = (await sync_to_async(_records)())[0]
    assert (record.status, record.provider_name) == ("completed", "local")


@pytest.mark.parametrize("kind", KINDS)
def test_a_short_lived_loop_closes_its_provider_connections(kind: str, fake_models: FakeModels, fake_llm: Any) -> None:
    """A Celery task's call (`async_to_sync`: a loop of its own) leaves no socket open once its loop has ended."""
    before = connections_to(fake_llm.port)
    result = client.complete_chat_sync(user=UserFactory(), model=f"fake-{kind}", messages=[{"role": "user", "content": "Hi"}])
    assert result.text == DEFAULT_REPLY
    assert not connections_to(fake_llm.port) - before


@pytest.mark.parametrize("kind", KINDS)
async def test_unreachable_provider_is_named_so(kind: str, fake_models: FakeModels) -> None:
    """A refused connection is 'could not be reached', not a timeout (aiohttp's transport calls both ConnectTimeout)."""
    from apps.core.runtime.embedded import free_port
    from apps.llm import services
    from apps.llm.selectors import registry

    port = free_port()  # nothing listens there
    base_url = f"http://127.0.0.1:{port}" + ("/v1" if kind == "openai" else "")
    await sync_to_async(services.provider_update)(provider=fake_models.providers[kind], base_url=base_url)
    registry.forget()
    user = await sync_to_async(UserFactory)()
    for stream in (True, False):
        with pytest.raises(ProviderUnavailable) as caught:
            if stream:
                await _collect(user, f"fake-{kind}", "Hello")
            else:
                await client.complete_chat(user=user, model=f"fake-{kind}", messages=[{"role": "user", "content": "Hello"}])
        assert caught.value.message == f"The provider 'fake-{kind}' could not be reached; try again shortly."


def test_sync_variant_for_workers(fake_models: FakeModels, fake_llm: Any) -> None:
    user = UserFactory()
    result = client.complete_chat_sync(user=user, model="fake-openai", messages=[{"role": "user", "content": "From a Celery task"}])
    assert result.text == DEFAULT_REPLY
    assert UserFactory._meta.model.objects.count() >= 1
    assert UsageRecord.objects.get().origin == "chat"


def test_provider_clients_are_built_once_per_loop_and_taken_in_turn() -> None:
    """No SDK client (nor its TLS context and pool) is built per call: a few per loop and settings, reused in turn."""
    from apps.llm.providers.base import CLIENTS_PER_PROVIDER, client_for_loop

    built: list[object] = []
    closed: list[object] = []

    def factory() -> tuple[object, Any]:
        client = object()
        built.append(client)

        async def close() -> None:
            closed.append(client)

        return client, close

    async def calls(key: tuple[str, ...], n: int) -> list[object]:
        return [client_for_loop(key, factory) for _ in range(n)]

    async def both() -> tuple[list[object], list[object]]:
        return await calls(("openai", "a"), 5 * CLIENTS_PER_PROVIDER), await calls(("openai", "b"), 2)

    first, other = asyncio.run(both())
    assert len(set(map(id, first))) == CLIENTS_PER_PROVIDER  # 40 calls, 8 clients, each used in turn
    assert first[:CLIENTS_PER_PROVIDER] == first[CLIENTS_PER_PROVIDER:2 * CLIENTS_PER_PROVIDER]
    assert not set(map(id, other)) & set(map(id, first))  # other settings, other clients
    assert sorted(map(id, closed)) == sorted(map(id, built))  # the loop's end closed each of its clients
    again = asyncio.run(calls(("openai", "a"), 1))  # another event loop never shares a loop's clients
    assert id(again[0]) not in set(map(id, first))
