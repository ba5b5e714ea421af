"""Credits through the OpenAI-compatible gateway: reserve before the provider, settle from the usage record after."""
from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from apps.accounts import services as account_services
from apps.billing import services
from apps.billing.models import CreditAccount, CreditReservation, CreditTransaction
from apps.llm.models import UsageRecord
from tests.factories import UserFactory
from tests.fakes.llm_server import FakeLlmServer
from tests.llm.conftest import FAKE_KEY, make_fake_models

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def llm_server() -> Iterator[FakeLlmServer]:
    server = FakeLlmServer(api_key=FAKE_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def models(transactional_db: Any, llm_server: FakeLlmServer) -> Any:
    from apps.accounts.seeds import seed

    seed()
    llm_server.clear()
    return make_fake_models(llm_server)


def wait_settled(user: Any, timeout: float = 15.0) -> CreditAccount:
    """The account once no hold is open (settlement runs right after the answer)."""
    deadline = time.monotonic() + timeout
    while True:
        account = CreditAccount.objects.get(user=user)
        if account.held == 0 and not CreditReservation.objects.filter(account=account, status="held").exists():
            return account
        if time.monotonic() > deadline:
            raise AssertionError(f"still held: {account.held}")
        time.sleep(0.05)


def test_gateway_calls_are_charged_their_metered_cost(models, llm_server, daphne_server):
    user = UserFactory()
    _key, raw = account_services.api_key_create(user=user, name="sdk", scopes=["chat"])
    sdk = openai.OpenAI(base_url=f"{daphne_server.url}/api/v1/openai", api_key=raw, max_retries=0, timeout=20)
    sdk.chat.completions.create(model="fake-openai", messages=[{"role": "user", "content": "Hello"}], max_tokens=100)
    list(sdk.chat.completions.create(model="fake-anthropic", messages=[{"role": "user", "content": "Hello"}], stream=True))
    account = wait_settled(user)
    deadline = time.monotonic() + 10
    while UsageRecord.objects.filter(user=user).count() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    costs = sorted(UsageRecord.objects.filter(user=user).values_list("cost", flat=True))
    charged = sorted(-row.amount for row in CreditTransaction.objects.filter(account=account, type="usage"))
    assert len(costs) == 2 and all(c > 0 for c in costs)
    assert charged == [c.quantize(Decimal("0.000001")) for c in costs]
    assert account.balance == Decimal(200) - sum(charged)
    rows = CreditTransaction.objects.filter(account=account, type="usage")
    assert {r.model_name for r in rows} == {"fake-openai", "fake-anthropic"} and all(r.usage_record_id for r in rows)


def test_a_call_the_balance_cannot_cover_is_402_before_the_provider(models, llm_server, daphne_server):
    user = UserFactory()
    # 0.005 credits left: not even the prompt and a 16-token reply.
    services.credit_charge(account_or_user=user, amount=Decimal("199.995"), idempotency_key="almost-all")
    _key, raw = account_services.api_key_create(user=user, name="sdk", scopes=["chat"])
    response = httpx.post(f"{daphne_server.url}/api/v1/openai/chat/completions", timeout=20,
                          headers={"Authorization": f"Bearer {raw}"},
                          json={"model": "fake-openai", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 500})
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "INSUFFICIENT_CREDITS" and response.json()["error"]["type"] == "insufficient_quota"
    assert llm_server.log == []  # the provider was never called
    assert not UsageRecord.objects.filter(user=user).exists()
    assert CreditAccount.objects.get(user=user).held == 0


def test_a_stopped_stream_is_charged_for_what_was_produced(models, llm_server, daphne_server):
    user = UserFactory()
    _key, raw = account_services.api_key_create(user=user, name="sdk", scopes=["chat"])
    body = {"model": "fake-openai", "stream": True, "max_tokens": 500,
            "messages": [{"role": "user", "content": "Tell me a long story #words=400 #slow=0.02"}]}
    with httpx.Client(timeout=20) as client, client.stream(
            "POST", f"{daphne_server.url}/api/v1/openai/chat/completions", json=body, headers={"Authorization": f"Bearer {raw}"}) as response:
        assert response.status_code == 200
        received = 0
        for line in response.iter_lines():
            if line.startswith("data: {"):
                received += 1
            if received >= 10:
                break  # the client goes away mid-answer
    account = wait_settled(user)
    deadline = time.monotonic() + 10
    record = None
    while record is None and time.monotonic() < deadline:
        record = UsageRecord.objects.filter(user=user).first()
        time.sleep(0.05)
    assert record is not None and record.status == "stopped" and 0 < record.completion_tokens < 400
    usage = CreditTransaction.objects.get(account=account, type="usage")
    assert -usage.amount == record.cost.quantize(Decimal("0.000001")) and usage.usage_record_id == record.pk
    reservation = CreditReservation.objects.get(account=account)
    assert reservation.status == "settled" and reservation.charged < reservation.amount  # the unused rest was released


def test_a_stream_cut_by_a_server_stop_is_still_recorded_and_settled(models, llm_server, tmp_path):
    """daphne stopped (SIGTERM) mid-answer: the cut call's usage record and settlement written behind it still land."""
    from tests.conftest import start_daphne, stop_process

    server = start_daphne(tmp_path)
    user = UserFactory()
    _key, raw = account_services.api_key_create(user=user, name="sdk", scopes=["chat"])
    body = {"model": "fake-openai", "stream": True, "max_tokens": 500,
            "messages": [{"role": "user", "content": "Tell me a long story #words=400 #slow=0.05"}]}
    try:
        with httpx.Client(timeout=20) as client, client.stream(
                "POST", f"{server.url}/api/v1/openai/chat/completions", json=body, headers={"Authorization": f"Bearer {raw}"}) as response:
            assert response.status_code == 200
            received = 0
            for line in response.iter_lines():
                received += line.startswith("data: {")
                if received >= 5:
                    stop_process(server.process)  # a deploy restarts the web process mid-answer
                    break
    finally:
        stop_process(server.process)
    assert server.process.returncode is not None
    record = UsageRecord.objects.get(user=user)  # written before the process ended: no polling
    assert 0 < record.completion_tokens < 400
    reservation = CreditReservation.objects.get(account__user=user)
    assert reservation.status == "settled", server.log()
    usage = CreditTransaction.objects.get(account__user=user, type="usage")
    assert -usage.amount == record.cost.quantize(Decimal("0.000001")) and CreditAccount.objects.get(user=user).held == 0
