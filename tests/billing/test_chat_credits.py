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
def caller(fake_models: FakeModels) -> Caller:  # noqa: F811
    return make_caller()


def _wait(predicate: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_a_stopped_chat_stream_is_charged_for_what_was_produced(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:
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
    usage = CreditTransaction.objects.get(account=account, type="usage")
    assert -usage.amount == record.cost.quantize(Decimal("0.000001")) > 0
    assert account.balance == Decimal(200) + usage.amount
    reservation = CreditReservation.objects.get(account=account)
    assert reservation.status == "settled" and reservation.charged < reservation.amount == held


def test_chat_without_enough_credits_is_402_before_the_provider(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:
    services.credit_charge(account_or_user=caller.user, amount=Decimal("199.99"), idempotency_key="almost-all")
    body = {"messages": [{"role": "user", "content": "Hello"}], "model_id": "fake-openai", "max_tokens": 500}
    response = httpx.post(f"{daphne_server.url}/api/v1/chat", json=body, headers=caller.headers, timeout=30)
    assert response.status_code == 402 and response.json()["error"]["code"] == "INSUFFICIENT_CREDITS"
    assert fake_llm.log == []
    assert CreditAccount.objects.get(user=caller.user).held == 0


def test_compare_charges_both_answers_and_refuses_an_empty_balance(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:
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
