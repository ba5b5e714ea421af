"""The credit ledger: reserve/settle/release, charges, grants, refunds, resets, and concurrency on real PostgreSQL."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from apps.accounts.models import Tier
from apps.billing import services
from apps.billing.errors import InsufficientCredits
from apps.billing.models import AppendOnlyError, CreditAccount, CreditReservation, CreditTransaction, ReservationStatus
from apps.llm.models import LlmModel, ProviderConnection
from tests.factories import UserFactory

D = Decimal


def make_model(*, input_cost: str = "1000", output_cost: str = "2000", name: str = "ledger-model") -> LlmModel:
    """A registry model priced in credits per 1M tokens."""
    provider, _ = ProviderConnection.objects.get_or_create(name="ledger-local", defaults={"kind": "local"})
    return LlmModel.objects.create(name=name, provider=provider, provider_model="local", input_cost=D(input_cost),
                                   output_cost=D(output_cost), max_output_tokens=1000)


def account_of(user: Any) -> CreditAccount:
    return CreditAccount.objects.get(user=user)


@pytest.mark.django_db
class TestAccounts:
    def test_a_new_account_starts_with_its_tiers_monthly_credits(self, user):
        account = services.credit_account_for(user=user)
        assert account.balance == D(200) and account.allowance == D(200) and account.purchased == 0
        row = CreditTransaction.objects.get(account=account)
        assert (row.type, row.amount, row.balance_after) == ("reset", D(200), D(200))
        assert services.credit_account_for(user=user).pk == account.pk  # opened once

    def test_a_pro_user_starts_with_3000(self):
        pro = UserFactory(tier=Tier.objects.get(slug="pro"))
        assert services.credit_account_for(user=pro).balance == D(3000)

    def test_ledger_rows_are_append_only(self, user):
        row = CreditTransaction.objects.get(account=services.credit_account_for(user=user))
        row.reference = "changed"
        with pytest.raises(AppendOnlyError):
            row.save()
        with pytest.raises(AppendOnlyError):
            row.delete()


@pytest.mark.django_db
class TestReserveSettle:
    def test_reserve_holds_the_most_the_call_can_cost(self, user):
        model = make_model()
        reservation = services.credit_reserve(user=user, model=model, prompt_tokens_estimate=1000, max_tokens=500,
                                              reference="test", idempotency_key="r1")
        # 1000 * 1000/1M + 500 * 2000/1M = 1 + 1 = 2 credits
        assert reservation.amount == D(2)
        account = account_of(user)
        assert account.held == D(2) and account.available == D(198) and account.balance == D(200)

    def test_settle_charges_the_metered_cost_and_releases_the_rest_once(self, user):
        reservation = services.credit_reserve(user=user, model=make_model(), prompt_tokens_estimate=1000, max_tokens=500, idempotency_key="r2")
        settled = services.credit_settle(reservation=reservation, cost=D("0.75"))
        again = services.credit_settle(reservation=reservation, cost=D("1.5"))  # a retry changes nothing
        assert settled.status == again.status == ReservationStatus.SETTLED and again.charged == D("0.75")
        account = account_of(user)
        assert account.held == 0 and account.balance == D("199.25") and account.total_spent == D("0.75")
        usage = CreditTransaction.objects.get(account=account, type="usage")
        assert usage.amount == D("-0.75") and usage.balance_after == D("199.25") and usage.model_name == "ledger-model"

    def test_a_covered_hold_and_its_settlement_are_one_statement_each(self, user):
        """A busy account's calls wait on its row lock: the common hold and settle hold it for one statement."""
        from django.test.utils import CaptureQueriesContext

        model = make_model()
        services.credit_account_for(user=user)  # opened (the first hold of a new account takes the longer path)
        with CaptureQueriesContext(connection) as holding:
            reservation = services.credit_reserve(user=user, model=model, prompt_tokens_estimate=1000, max_tokens=500,
                                                  reference="chat:one", idempotency_key="one-statement")
        with CaptureQueriesContext(connection) as settling:
            services.credit_settle(reservation=reservation, cost=D("0.5"), usage_record_id=None)
        # (inside the test's transaction, as inside any caller's, the hold also takes a savepoint)
        statements = [q["sql"].split("(")[0] for q in holding.captured_queries if "SAVEPOINT" not in q["sql"]]
        assert statements == ["SELECT reservation_id, account_id, existed FROM nexus_credit_hold"]
        assert len(settling.captured_queries) == 1
        stored = CreditReservation.objects.get(pk=reservation.pk)
        assert (stored.amount, stored.charged, stored.status, stored.reference) == (D(2), D("0.5"), "settled", "chat:one")
        usage = CreditTransaction.objects.get(idempotency_key=f"settle:{reservation.pk}")
        assert usage.metadata == {"reservation_id": str(reservation.pk), "held": "2.000000", "cost": "0.500000"}
        assert usage.reference == "chat:one" and account_of(user).held == 0

    def test_many_settlements_are_one_statement_and_each_settles_as_alone(self, user):
        """The gateway's settlements, queued behind its answers, are written by the dozen (credit_settle_many)."""
        from django.test.utils import CaptureQueriesContext

        model = make_model()
        other = UserFactory()
        holds = [services.credit_reserve(user=owner, model=model, prompt_tokens_estimate=1000, max_tokens=500, idempotency_key=f"many-{n}")
                 for n, owner in enumerate([user, other, user])]
        costs = [D("0.5"), D("1.25"), D("0")]
        with CaptureQueriesContext(connection) as settling:
            services.credit_settle_many([(h.pk, h.account_id, cost, None) for h, cost in zip(holds, costs, strict=True)])
        assert len(settling.captured_queries) == 1
        stored = {r.pk: r for r in CreditReservation.objects.filter(pk__in=[h.pk for h in holds])}
        assert [(stored[h.pk].status, stored[h.pk].charged) for h in holds] == [("settled", D("0.5")), ("settled", D("1.25")), ("settled", 0)]
        assert account_of(user).held == 0 and account_of(user).balance == D("199.5")
        assert account_of(other).held == 0 and account_of(other).balance == D("198.75")
        # Idempotent as credit_settle: settled again (a retried batch), nothing more is charged.
        services.credit_settle_many([(h.pk, h.account_id, D("9"), None) for h in holds])
        assert account_of(user).balance == D("199.5") and CreditTransaction.objects.filter(type="usage").count() == 2

    def test_settling_many_with_an_unknown_hold_writes_none_of_them(self, user):
        import uuid

        from django.db import DatabaseError, transaction

        hold = services.credit_reserve(user=user, model=make_model(), prompt_tokens_estimate=1000, max_tokens=500, idempotency_key="many-x")
        with pytest.raises(DatabaseError), transaction.atomic():
            services.credit_settle_many([(hold.pk, hold.account_id, D("1"), None), (uuid.uuid4(), hold.account_id, D("1"), None)])
        # The write-behind batch then runs each row alone: the real hold still settles.
        assert CreditReservation.objects.get(pk=hold.pk).status == "held"

    def test_the_same_idempotency_key_reserves_once(self, user):
        model = make_model()
        first = services.credit_reserve(user=user, model=model, prompt_tokens_estimate=10, max_tokens=10, idempotency_key="same")
        second = services.credit_reserve(user=user, model=model, prompt_tokens_estimate=10, max_tokens=10, idempotency_key="same")
        assert first.pk == second.pk and account_of(user).held == first.amount

    def test_release_gives_the_whole_hold_back_without_a_ledger_row(self, user):
        reservation = services.credit_reserve(user=user, model=make_model(), prompt_tokens_estimate=100, max_tokens=100)
        services.credit_release(reservation=reservation)
        services.credit_release(reservation=reservation)
        account = account_of(user)
        assert account.held == 0 and account.balance == D(200)
        assert not CreditTransaction.objects.filter(account=account, type="usage").exists()
        assert services.credit_settle(reservation=reservation, cost=5).status == ReservationStatus.RELEASED

    def test_a_call_that_cannot_be_covered_is_402_before_anything_is_held(self, user):
        model = make_model(output_cost="20000000")  # 20 credits per output token: 200 credits cannot pay for a 16-token reply
        with pytest.raises(InsufficientCredits) as raised:
            services.credit_reserve(user=user, model=model, prompt_tokens_estimate=10, max_tokens=500)
        assert raised.value.status_code == 402 and raised.value.code == "INSUFFICIENT_CREDITS"
        assert account_of(user).held == 0 and not CreditReservation.objects.exists()

    def test_a_call_the_balance_covers_in_part_is_capped_not_refused(self, user):
        model = make_model(output_cost="1000000")  # 1 credit per output token
        reservation = services.credit_reserve(user=user, model=model, prompt_tokens_estimate=10, max_tokens=500)
        assert reservation.capped and 16 <= reservation.max_tokens < 200
        assert account_of(user).held == reservation.amount <= D(200)

    def test_a_cost_above_the_hold_is_charged_only_as_far_as_the_balance_goes(self, user):
        services.credit_charge(account_or_user=user, amount=195, idempotency_key="drain")
        reservation = services.credit_reserve(user=user, model=make_model(), prompt_tokens_estimate=1000, max_tokens=500)
        settled = services.credit_settle(reservation=reservation, cost=D(12))
        assert settled.charged == D(5) and settled.uncollected == D(7)
        assert account_of(user).balance == 0

    def test_spending_draws_the_allowance_first(self, user):
        services.credit_grant(account_or_user=user, amount=50, idempotency_key="gift")
        services.credit_charge(account_or_user=user, amount=230, idempotency_key="big")
        account = account_of(user)
        assert (account.allowance, account.purchased) == (0, D(20))

    def test_expired_holds_are_released_and_a_late_settle_still_charges(self, user):
        reservation = services.credit_reserve(user=user, model=make_model(), prompt_tokens_estimate=1000, max_tokens=500)
        CreditReservation.objects.filter(pk=reservation.pk).update(created_at=datetime.now(UTC) - timedelta(hours=2))
        assert services.credit_reservations_expire(older_than=timedelta(hours=1)) == 1
        assert account_of(user).held == 0
        assert services.credit_settle(reservation=reservation, cost=1).charged == D(1)
        assert account_of(user).balance == D(199)


@pytest.mark.django_db
class TestGrantsAndRefunds:
    def test_grant_is_idempotent_by_key(self, user):
        first = services.credit_grant(account_or_user=user, amount=100, reference="welcome", idempotency_key="grant-1")
        second = services.credit_grant(account_or_user=user, amount=100, reference="welcome", idempotency_key="grant-1")
        assert first.pk == second.pk
        account = account_of(user)
        assert account.balance == D(300) and account.total_earned == D(300)

    def test_refund_gives_credits_back(self, user):
        services.credit_charge(account_or_user=user, amount=40, idempotency_key="task")
        services.credit_refund(account_or_user=user, amount=40, reference="task failed", idempotency_key="task-refund")
        account = account_of(user)
        assert account.balance == D(200) and account.total_spent == 0
        assert list(CreditTransaction.objects.filter(account=account).values_list("type", flat=True)) == ["refund", "spent", "reset"]

    def test_bad_amounts_are_refused(self, user):
        from apps.core.errors import ValidationError

        for call in (lambda: services.credit_grant(account_or_user=user, amount=0),
                     lambda: services.credit_charge(account_or_user=user, amount=-1),
                     lambda: services.credit_grant(account_or_user=user, amount=5, type="usage")):
            with pytest.raises(ValidationError):
                call()


@pytest.mark.django_db
class TestMonthlyReset:
    def test_reset_twice_in_one_period_resets_once(self, user, other_user):
        for someone in (user, other_user):
            services.credit_charge(account_or_user=someone, amount=150, idempotency_key=f"spend-{someone.pk}")
        services.credit_grant(account_or_user=user, amount=30, idempotency_key="bought")
        next_month = datetime.now(UTC).replace(day=1) + timedelta(days=40)
        assert services.credit_reset_due(now=next_month) == 2
        assert services.credit_reset_due(now=next_month) == 0
        assert services.credit_reset_due(now=next_month + timedelta(days=1)) == 0
        account = account_of(user)
        # The allowance is back to 200; purchased credits are kept.
        assert (account.allowance, account.purchased, account.balance) == (D(200), D(30), D(230))
        assert CreditTransaction.objects.filter(account=account, type="reset").count() == 2

    def test_an_account_on_a_live_subscription_is_renewed_by_its_invoices_not_the_cron(self, user):
        services.credit_account_for(user=user)
        CreditAccount.objects.filter(user=user).update(subscription_id="sub_x", subscription_status="active")
        next_month = datetime.now(UTC).replace(day=1) + timedelta(days=40)
        assert services.credit_reset_due(now=next_month) == 0


@pytest.mark.django_db(transaction=True)
class TestConcurrency:
    @pytest.fixture(autouse=True)
    def _seeded(self, transactional_db: Any) -> None:
        from apps.accounts.seeds import seed

        seed()

    @staticmethod
    def _run_parallel(count: int, work: Any) -> list[Any]:
        results: list[Any] = [None] * count
        barrier = threading.Barrier(count)

        def run(index: int) -> None:
            try:
                barrier.wait()
                results[index] = work(index)
            except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
                results[index] = exc
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    def test_50_parallel_reserve_and_settle_against_a_balance_for_10(self):
        user = UserFactory()
        services.credit_account_for(user=user)  # 200 credits
        model = make_model(input_cost="0", output_cost="20000")  # 1000 output tokens = 20 credits

        def spend(index: int) -> Any:
            reservation = services.credit_reserve(user=user, model=model, prompt_tokens_estimate=50, max_tokens=1000,
                                                  idempotency_key=f"call-{index}")
            return services.credit_settle(reservation=reservation, cost=D(20))

        results = self._run_parallel(50, spend)
        succeeded = [r for r in results if isinstance(r, CreditReservation)]
        refused = [r for r in results if isinstance(r, InsufficientCredits)]
        assert len(succeeded) == 10 and len(refused) == 40, results
        account = account_of(user)
        assert account.balance == 0 and account.held == 0 and account.balance >= 0
        assert CreditTransaction.objects.filter(account=account, type="usage").count() == 10

    def test_50_parallel_direct_charges_against_a_balance_for_10(self):
        user = UserFactory()
        services.credit_account_for(user=user)
        services.credit_charge(account_or_user=user, amount=100, idempotency_key="half")  # 100 left

        results = self._run_parallel(50, lambda i: services.credit_charge(account_or_user=user, amount=10, idempotency_key=f"c-{i}"))
        assert sum(isinstance(r, CreditTransaction) for r in results) == 10
        assert sum(isinstance(r, InsufficientCredits) for r in results) == 40
        account = account_of(user)
        assert account.balance == 0
        balances = sorted(CreditTransaction.objects.filter(account=account, type="spent").values_list("balance_after", flat=True))
        assert balances[0] == 0 and len(set(balances)) == len(balances)  # each charge saw the one before it

    def test_first_use_from_many_threads_opens_one_account(self):
        user = UserFactory()
        results = self._run_parallel(20, lambda i: services.credit_account_for(user=user).pk)
        assert len(set(results)) == 1 and CreditAccount.objects.filter(user=user).count() == 1
        assert CreditTransaction.objects.filter(account__user=user).count() == 1

    def test_concurrent_resets_reset_each_account_once(self):
        users = [UserFactory() for _ in range(5)]
        for someone in users:
            services.credit_charge(account_or_user=someone, amount=100, idempotency_key=f"s-{someone.pk}")
        next_month = datetime.now(UTC).replace(day=1) + timedelta(days=40)
        results = self._run_parallel(6, lambda i: services.credit_reset_due(now=next_month))
        assert sum(results) == 5, results
        for someone in users:
            assert account_of(someone).balance == D(200)
            assert CreditTransaction.objects.filter(account__user=someone, type="reset").count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_standalone_hold_does_not_wait_for_the_disk_but_its_settlement_does() -> None:
    """Holds are reservations: their COMMIT returns before the WAL is on disk; moving money waits for it."""
    from django.test.utils import CaptureQueriesContext

    from apps.accounts.seeds import seed

    seed()  # a transactional test starts from a flushed database
    user = UserFactory()
    services.credit_grant(account_or_user=user, amount=100, idempotency_key="async-commit-grant")
    with CaptureQueriesContext(connection) as hold_queries:
        hold = services.credit_hold(account_or_user=user, amount=10, idempotency_key="async-commit-hold")
    with CaptureQueriesContext(connection) as settle_queries:
        services.credit_settle(reservation=hold, cost=4)
    assert any("synchronous_commit TO OFF" in query["sql"] for query in hold_queries.captured_queries)
    assert not any("synchronous_commit" in query["sql"] for query in settle_queries.captured_queries)
    # Inside a caller's transaction the hold is the caller's: nothing is changed for it.
    from django.db import transaction

    with transaction.atomic(), CaptureQueriesContext(connection) as inner:
        services.credit_hold(account_or_user=user, amount=1, idempotency_key="async-commit-inner")
    assert not any("synchronous_commit" in query["sql"] for query in inner.captured_queries)


@pytest.mark.django_db(transaction=True)
def test_the_async_hold_on_the_serving_loops_connections_follows_the_same_rules(settings: Any, monkeypatch: Any) -> None:
    """The gateway's hold, one statement on the loop's own connections: held as credit_reserve holds; capped, refused and repeated keys as well."""
    import asyncio

    from apps.accounts.seeds import seed
    from apps.core import db

    thread_statements: list[str] = []
    fast_hold = services._fast_hold

    def counted(**kwargs: Any) -> Any:
        thread_statements.append(kwargs["key"])
        return fast_hold(**kwargs)

    # The statement already ran on the loop's pool: the thread's Python path must not run it again.
    monkeypatch.setattr(services, "_fast_hold", counted)
    seed()
    settings.DATABASE_ASYNC_POOL_MAX = 1
    user = UserFactory()
    services.credit_account_for(user=user)  # 200 credits
    model = make_model()  # 1000 prompt + 500 output tokens = 2 credits
    pricey = make_model(output_cost="1000000", name="pricey")  # a credit per output token
    dear = make_model(input_cost="1000000", name="dear")  # a credit per prompt token

    async def run() -> tuple[Any, ...]:
        db._serving_loop = None  # an earlier test's loop may still be alive and marked
        db.db_serving_loop_mark()
        try:
            assert await db.db_async_pool() is not None
            # Covered: one statement on the loop's pool.
            first = await services.acredit_reserve(user=user, model=model, prompt_tokens_estimate=1000, max_tokens=500,
                                                   reference="gw", idempotency_key="async-1")
            used = (await db.db_async_pool()).get_stats().get("requests_num", 0)
            # The same key again: found, not held twice.
            again = await services.acredit_reserve(user=user, model=model, prompt_tokens_estimate=1000, max_tokens=500,
                                                   reference="gw", idempotency_key="async-1")
            # More than the rest of the balance covers (1 + 1000 credits of 198): capped to what it covers.
            capped = await services.acredit_reserve(user=user, model=pricey, prompt_tokens_estimate=1000, max_tokens=1000,
                                                    reference="gw", idempotency_key="async-2")
            # Not even the prompt: refused.
            with pytest.raises(InsufficientCredits):
                await services.acredit_reserve(user=user, model=dear, prompt_tokens_estimate=1000, max_tokens=10,
                                               reference="gw", idempotency_key="async-3")
            return first, again, capped, used
        finally:
            await db.db_async_pool_close()
            db._serving_loop = None

    first, again, capped, used = asyncio.run(run())
    assert used >= 1  # the first hold went through the loop's pool
    assert thread_statements == []  # the repeated key, the capped and the refused hold: each statement ran once, on the loop
    assert first.amount == D(2) and first.max_tokens == 500 and not first.capped
    assert again.pk == first.pk and CreditReservation.objects.filter(idempotency_key="async-1").count() == 1
    assert capped.capped and capped.max_tokens == 197 and capped.amount == D(198)
    assert not CreditReservation.objects.filter(idempotency_key="async-3").exists()
    account = account_of(user)
    assert account.held == D(200) and account.available == 0
    reservation = CreditReservation.objects.get(pk=first.pk)
    assert reservation.status == ReservationStatus.HELD and reservation.reference == "gw" and reservation.model_name == "ledger-model"
