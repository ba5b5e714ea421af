"""Credits through the chat stream: a stopped reply is charged for what was produced; an empty balance is 402 first."""
from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import pytest

from apps.billing import services
from apps.billing.models import CreditAccount, CreditReservation, CreditTransaction
from apps.chat.models import Message
from apps.llm.models import UsageRecord
from tests.chat.conftest import Caller, SseReader, make_caller
from tests.llm.conftest import (  # noqa: F401  (fixtures used by the tests below)
    FakeModels,
    committed_db,
    fake_llm,
    fake_llm_server,
    fake_models,
    fresh_llm_state,
)

pytestmark = pytest.mark.live


@pytest.fixture
def caller(fake_models: FakeModels) -> Caller:  # noqa: F811  (the fixture imported above)
    return make_caller()


def _wait(predicate: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_a_stopped_chat_stream_is_charged_for_what_was_produced(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:  # noqa: F811  (the fixture imported above)
    body = {"messages": [{"role": "user", "content": "Go #words=400 #slow=0.03"}], "model_id": "fake-openai", "max_tokens": 500}
    with httpx.Client(timeout=30) as client, client.stream("POST", f"{daphne_server.url}/api/v1/chat", json=body,
                                                           headers=caller.headers) as response:
        assert response.status_code == 200
        conversation_id = response.headers["x-conversation-id"]
        reader = SseReader(response)
        reader.until(lambda e: e.data["type"] == "text-delta" and int(e.id) >= 5)
        held = CreditAccount.objects.get(user=caller.user).held
        assert held > 0  # the most the reply can cost is held while it streams
        assert client.post(f"{daphne_server.url}/api/v1/conversations/{conversation_id}/stop", headers=caller.headers).status_code == 202
        reader.rest()
    reply = _wait(lambda: Message.objects.filter(conversation_id=conversation_id, role="assistant", status="incomplete").first())
    account = _wait(lambda: (a := CreditAccount.objects.get(user=caller.user)).held == 0 and a)
    record = UsageRecord.objects.get(pk=reply.usage_record_id)
    assert record.status == "stopped" and 0 < record.completion_tokens < 400
    assert reply.token_usage["completion_tokens"] == record.completion_tokens  # the stopped reply shows its usage
    usage = CreditTransaction.objects.get(account=account, type="usage")
    assert -usage.amount == record.cost.quantize(Decimal("0.000001")) > 0
    assert account.balance == Decimal(200) + usage.amount
    reservation = CreditReservation.objects.get(account=account)
    assert reservation.status == "settled" and reservation.charged < reservation.amount == held


def test_chat_without_enough_credits_is_402_before_the_provider(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:  # noqa: F811  (the fixture imported above)
    # 0.005 credits left: the prompt and a 16-token reply (0.0004 credits a token) are more than that.
    services.credit_charge(account_or_user=caller.user, amount=Decimal("199.995"), idempotency_key="almost-all")
    body = {"messages": [{"role": "user", "content": "Hello"}], "model_id": "fake-openai", "max_tokens": 500}
    response = httpx.post(f"{daphne_server.url}/api/v1/chat", json=body, headers=caller.headers, timeout=30)
    assert response.status_code == 402 and response.json()["error"]["code"] == "INSUFFICIENT_CREDITS"
    assert fake_llm.log == []
    assert CreditAccount.objects.get(user=caller.user).held == 0


def test_compare_charges_both_answers_and_refuses_an_empty_balance(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:  # noqa: F811  (the fixture imported above)
    body = {"prompt": "Hello", "model1_id": "fake-openai", "model2_id": "fake-anthropic"}
    response = httpx.post(f"{daphne_server.url}/api/v1/compare", json=body, headers=caller.headers, timeout=30)
    assert response.status_code in (200, 201), response.text
    account = _wait(lambda: (a := CreditAccount.objects.get(user=caller.user)).held == 0 and a)
    rows = CreditTransaction.objects.filter(account=account, type="usage")
    assert {r.model_name for r in rows} == {"fake-openai", "fake-anthropic"}
    answer = response.json()
    assert sorted(-r.amount for r in rows) == sorted(Decimal(str(answer[side]["cost"])).quantize(Decimal("0.000001"))
                                                      for side in ("model1", "model2"))
    services.credit_charge(account_or_user=caller.user, amount=account.available - Decimal("0.0001"), idempotency_key="drain")
    fake_llm.clear()
    refused = httpx.post(f"{daphne_server.url}/api/v1/compare", json=body, headers=caller.headers, timeout=30)
    assert refused.status_code == 402 and fake_llm.log == []
    assert CreditAccount.objects.get(user=caller.user).held == 0


def test_an_affordable_chat_is_capped_not_refused(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:  # noqa: F811  (the fixture imported above)
    # 0.02 credits left: the full 500-token budget (0.2 credits) is not covered, but about 45 tokens are.
    services.credit_charge(account_or_user=caller.user, amount=Decimal("199.98"), idempotency_key="most")
    body = {"messages": [{"role": "user", "content": "Hello"}], "model_id": "fake-openai", "max_tokens": 500}
    with httpx.Client(timeout=30) as client, client.stream("POST", f"{daphne_server.url}/api/v1/chat", json=body,
                                                           headers=caller.headers) as response:
        assert response.status_code == 200, response.read()
        capped = int(response.headers["x-nexus-max-tokens"])
        events = SseReader(response).rest()
    assert 16 <= capped < 500
    assert events[-1].data["type"] == "finish"
    sent = [entry for entry in fake_llm.log if entry.api == "openai"]
    assert sent and sent[-1].body.get("max_tokens", sent[-1].body.get("max_completion_tokens")) == capped
    account = _wait(lambda: (a := CreditAccount.objects.get(user=caller.user)).held == 0 and a)
    assert account.balance >= 0


def test_an_affordable_gateway_call_is_capped_through_the_openai_sdk(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:  # noqa: F811  (the fixture imported above)
    import openai

    services.credit_charge(account_or_user=caller.user, amount=Decimal("199.98"), idempotency_key="most")
    client = openai.OpenAI(base_url=f"{daphne_server.url}/api/v1/openai", api_key=caller.key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="fake-openai", messages=[{"role": "user", "content": "Hello"}], max_tokens=500)
    capped = int(raw.headers["x-nexus-max-tokens"])
    assert 16 <= capped < 500
    assert raw.parse().choices[0].message.content
    sent = [entry for entry in fake_llm.log if entry.api == "openai"]
    assert sent[-1].body.get("max_tokens", sent[-1].body.get("max_completion_tokens")) == capped


def test_a_reaped_reply_is_charged_once_for_what_it_had_produced(caller: Caller, fake_models: FakeModels, settings: Any) -> None:  # noqa: F811  (the fixture imported above)
    from datetime import timedelta

    from django.utils import timezone

    from apps.chat.models import Conversation
    from apps.chat.tasks import chat_reap_orphans

    conversation = Conversation.objects.create(owner=caller.user, model_name="fake-openai")
    Message.objects.create(conversation=conversation, role="user", content="Tell me a long story about the sea", status="complete")
    reply = Message.objects.create(conversation=conversation, role="assistant", model_name="fake-openai", status="streaming",
                                   content="Once upon a time a ship sailed out of the harbour and")
    reservation = services.credit_reserve(user=caller.user, model=fake_models.models["openai"], prompt_tokens_estimate=10,
                                          max_tokens=500, reference=f"chat:{reply.pk}", idempotency_key=f"chat-reserve:{reply.pk}")
    Message.objects.filter(pk=reply.pk).update(updated_at=timezone.now() - timedelta(seconds=settings.CHAT_ORPHAN_SECONDS + 5))

    assert chat_reap_orphans() == 1
    reply.refresh_from_db()
    assert reply.status == "incomplete" and reply.token_usage["completion_tokens"] > 0
    record = UsageRecord.objects.get(pk=reply.usage_record_id)
    assert record.status == "stopped" and record.cost > 0
    reservation.refresh_from_db()
    assert reservation.status == "settled"
    account = CreditAccount.objects.get(user=caller.user)
    charge = CreditTransaction.objects.get(account=account, type="usage")
    assert -charge.amount == record.cost.quantize(Decimal("0.000001")) and account.held == 0
    assert chat_reap_orphans() == 0  # a second sweep charges nothing more
    assert CreditTransaction.objects.filter(account=account, type="usage").count() == 1
