"""The credit ledger: the only way credits move (reserve, settle, release, charge, grant, refund, reset).

Every function that moves credits runs in one transaction that first locks the account row
(`SELECT ... FOR UPDATE`), so concurrent calls on one account queue up and a balance can never
go negative; the database's CHECK constraints back that up. Every movement appends one
`CreditTransaction` with the balance after it and a unique idempotency key, so retrying a call
with the same key returns the first result instead of moving credits twice.

A model call uses the ledger in two steps (see docs/architecture.md, "apps/billing"):

    reservation = credit_reserve(user=user, model=entry, prompt_tokens_estimate=n, max_tokens=m,
                                 reference=f"gateway:{request_id}", idempotency_key=request_id)
    ...                                   # 402 INSUFFICIENT_CREDITS was raised before any provider call
    credit_settle(reservation=reservation, cost=record.cost, usage_record_id=record.id)   # or credit_release(...)
"""
from __future__ import annotations

import contextlib
import logging
import math
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

import psycopg
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.db import db_async_pool, db_sync_to_async, server_bound_cursor
from apps.core.errors import ValidationError

from .errors import InsufficientCredits
from .models import (
    LIVE_SUBSCRIPTION_STATUSES,
    ZERO,
    CreditAccount,
    CreditReservation,
    CreditTransaction,
    ReservationStatus,
    TransactionType,
)

if TYPE_CHECKING:
    from apps.accounts.models import User, Workspace

logger = logging.getLogger("nexus.billing")

QUANTUM = Decimal("0.000001")
# Transaction types a caller may grant (resets and top-ups have their own services).
GRANT_TYPES = (TransactionType.EARNED, TransactionType.TOPUP, TransactionType.REFUND)
CHARGE_TYPES = (TransactionType.USAGE, TransactionType.SPENT)


def credits(value: Any) -> Decimal:
    """A credit amount as a Decimal with six places (floats go through str, never binary)."""
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, bool):
        raise TypeError("A credit amount cannot be a boolean.")
    elif isinstance(value, (int, str)):
        amount = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("A credit amount must be finite.")
        amount = Decimal(repr(value))
    else:
        raise TypeError(f"Not a credit amount: {value!r}")
    return amount.quantize(QUANTUM, rounding=ROUND_HALF_UP)


def period_key(moment: datetime | None = None) -> str:
    """The calendar-month allowance period of a moment (UTC), e.g. "2026-05"."""
    moment = moment or timezone.now()
    return moment.astimezone(UTC).strftime("%Y-%m")


def period_start(moment: datetime | None = None) -> datetime:
    """The first instant of the moment's calendar month (UTC)."""
    moment = (moment or timezone.now()).astimezone(UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _monthly_credits(user: User | None) -> Decimal:
    """The monthly credits of the user's tier, read fresh (a tier edit applies to the next reset at once)."""
    from apps.accounts.models import Tier
    from apps.accounts.seeds import DEFAULT_TIERS

    if user is None:
        return ZERO
    value = Tier.objects.filter(slug=user.tier_id).values_list("monthly_credits", flat=True).first()
    if value is None:
        value = DEFAULT_TIERS.get(str(user.tier_id), DEFAULT_TIERS["free"])["monthly_credits"]
    return credits(value)


def tier_monthly_credits(slug: str) -> Decimal:
    """The monthly credits of a tier by slug (0 for an unknown tier)."""
    from apps.accounts.models import Tier

    value = Tier.objects.filter(slug=slug).values_list("monthly_credits", flat=True).first()
    return credits(value or 0)


# ------------------------------------------------------------------------------
# Accounts
# ------------------------------------------------------------------------------
def credit_account_for(*, user: User | None = None, workspace: Workspace | None = None) -> CreditAccount:
    """The credit account of a user (or workspace), opened on first use with the tier's monthly credits."""
    if (user is None) == (workspace is None):
        raise ValueError("Give exactly one of user or workspace.")
    owner = {"user": user} if user is not None else {"workspace": workspace}
    account = CreditAccount.objects.filter(**owner).first()
    if account is not None:
        return account
    return credit_account_open(user=user, workspace=workspace)


def credit_account_open(*, user: User | None = None, workspace: Workspace | None = None) -> CreditAccount:
    """Open an account starting with its tier's monthly credits for this period (idempotent, race-safe)."""
    owner = {"user": user} if user is not None else {"workspace": workspace}
    now = timezone.now()
    monthly = _monthly_credits(user)
    try:
        with transaction.atomic():
            account = CreditAccount.objects.create(
                **owner, allowance=monthly, total_earned=monthly, period=period_key(now), period_started_at=period_start(now),
            )
            if monthly > 0:
                CreditTransaction.objects.create(
                    account=account, type=TransactionType.RESET, amount=monthly, balance_after=monthly,
                    reference="account opened", idempotency_key=f"reset:{account.id}:{account.period}",
                    metadata={"period": account.period, "monthly_credits": str(monthly)},
                )
    except IntegrityError:  # a concurrent first use opened it: use that one
        account = CreditAccount.objects.get(**owner)
    return account


def _account_of(account_or_user: CreditAccount | User | Workspace) -> CreditAccount:
    if isinstance(account_or_user, CreditAccount):
        return account_or_user
    from apps.accounts.models import User, Workspace

    if isinstance(account_or_user, User):
        return credit_account_for(user=account_or_user)
    if isinstance(account_or_user, Workspace):
        return credit_account_for(workspace=account_or_user)
    raise TypeError(f"Not a credit account, user or workspace: {account_or_user!r}")


def _lock(account: CreditAccount) -> CreditAccount:
    """The account row, locked until the end of the transaction, with fresh values."""
    return CreditAccount.objects.select_for_update().get(pk=account.pk)


def _commit_without_waiting_for_disk() -> None:
    """Let this transaction's COMMIT return before its WAL reaches the disk (holds only).

    Every call of one account takes that account's row lock to hold credits, and keeps it until
    COMMIT: with a durable commit, the wait for the disk happens under the lock, so one busy API key
    could not hold credits faster than the disk syncs (the gateway at 50 calls in flight spent most
    of its time there). A hold is a reservation, not money moved: if PostgreSQL itself crashes in
    the next fraction of a second, the hold and its reservation vanish together (a transaction is
    all or nothing) and that call goes uncharged. Settlements and every ledger row stay durable, and
    a durable commit also writes every earlier one to disk (WAL is written in order). Only when the
    hold is its own transaction: inside a caller's (chat stores its hold with the reply) it is theirs.
    """
    if len(connection.atomic_blocks) != 1:
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _debit(account: CreditAccount, amount: Decimal) -> None:
    """Take credits, allowance first (it expires), then purchased. The caller checked the balance."""
    from_allowance = min(account.allowance, amount)
    account.allowance -= from_allowance
    account.purchased -= amount - from_allowance


def _append(account: CreditAccount, *, type: str, amount: Decimal, reference: str, idempotency_key: str,
            model_name: str = "", usage_record_id: Any = None, metadata: dict[str, Any] | None = None) -> CreditTransaction:
    """Save the locked account's new state and append its ledger row."""
    account.save(update_fields=["allowance", "purchased", "held", "total_earned", "total_spent", "total_purchased",
                                "period", "period_started_at", "updated_at"])
    return CreditTransaction.objects.create(
        account=account, type=type, amount=amount, balance_after=account.balance, reference=reference[:200],
        idempotency_key=idempotency_key, model_name=model_name[:100], usage_record_id=usage_record_id, metadata=metadata or {},
    )


def _existing(idempotency_key: str) -> CreditTransaction | None:
    return CreditTransaction.objects.filter(idempotency_key=idempotency_key).first()


def _key(idempotency_key: str | None) -> str:
    if idempotency_key is not None and not str(idempotency_key).strip():
        raise ValidationError("An idempotency key cannot be blank.", details={"idempotency_key": ["Cannot be blank."]})
    return str(idempotency_key)[:200] if idempotency_key is not None else uuid.uuid4().hex


def _insufficient(*, required: Decimal, available: Decimal) -> InsufficientCredits:
    return InsufficientCredits(
        f"This needs up to {required.normalize():f} credits; {max(available, ZERO).normalize():f} are available.",
        details={"required": [str(required)], "available": [str(max(available, ZERO))]},
    )


# ------------------------------------------------------------------------------
# Reserve -> settle | release (model calls and anything metered after the fact)
# ------------------------------------------------------------------------------
def credit_cost_ceiling(*, model: Any, prompt_tokens_estimate: int, max_tokens: int | None) -> Decimal:
    """The most a call can cost at the model's prices (credits per 1M tokens): prompt + the whole output budget."""
    output = max_tokens if max_tokens is not None else getattr(model, "max_output_tokens", 0) or 0
    raw = (Decimal(int(prompt_tokens_estimate)) * Decimal(str(model.input_cost))
           + Decimal(int(output)) * Decimal(str(model.output_cost))) / Decimal(1_000_000)
    return raw.quantize(QUANTUM, rounding=ROUND_CEILING)


# API.md: a call is refused only when the prompt and this many reply tokens are unaffordable.
MIN_REPLY_TOKENS = 16


def credit_reserve(*, user: User, model: Any, prompt_tokens_estimate: int, max_tokens: int | None, reference: str = "",
                   idempotency_key: str | None = None, account: CreditAccount | None = None) -> CreditReservation:
    """Hold what a model call can cost, lowering its output budget to what the balance covers.

    The returned reservation's `max_tokens` is the output budget the caller must send to the
    provider: the requested one when the balance covers it, else the most the balance covers
    (`capped` is then True). 402 INSUFFICIENT_CREDITS only when the prompt and a
    MIN_REPLY_TOKENS-token reply are unaffordable (API.md, Conventions).
    """
    requested, key, model_name, amount = _hold_terms(model=model, prompt_tokens=prompt_tokens_estimate, max_tokens=max_tokens,
                                                     idempotency_key=idempotency_key)
    prompt_tokens = int(prompt_tokens_estimate)
    fast = _fast_hold(account_id=account.pk if account is not None else None, user_id=user.pk, amount=amount, reference=reference,
                      key=key, model_name=model_name)
    if fast is not None:
        fast.max_tokens, fast.capped = requested, False
        return fast
    return _reserve_in_python(user=user, model=model, prompt_tokens=prompt_tokens, requested=requested, reference=reference, key=key,
                              account=account)


def _reserve_in_python(*, user: User, model: Any, prompt_tokens: int, requested: int, reference: str, key: str,
                       account: CreditAccount | None = None) -> CreditReservation:
    """The hold the one statement leaves to Python: a new account, one the balance cannot cover whole (capped or 402), a repeated key."""
    holder = account or _account_of(user)
    return _hold_model_call(account=holder, model=model, prompt_tokens=prompt_tokens, requested=requested, reference=reference, key=key)


def _hold_terms(*, model: Any, prompt_tokens: int, max_tokens: int | None, idempotency_key: str | None) -> tuple[int, str, str, Decimal]:
    """A model call's hold: the output budget asked for, the idempotency key, the model's name, the most the call can cost."""
    requested = max_tokens if max_tokens is not None else int(getattr(model, "max_output_tokens", 0) or 0)
    amount = credit_cost_ceiling(model=model, prompt_tokens_estimate=int(prompt_tokens), max_tokens=requested)
    return requested, _key(idempotency_key), str(getattr(model, "name", "") or "")[:100], amount


_HOLD_SQL = "SELECT reservation_id, account_id, existed FROM nexus_credit_hold(%s, %s, %s, %s, %s, %s, %s)"


def _fast_hold(*, account_id: Any, user_id: Any, amount: Decimal, reference: str, key: str, model_name: str) -> CreditReservation | None:
    """The common hold in one statement (`nexus_credit_hold`, migration 0003); None when the Python path must decide."""
    own = not connection.in_atomic_block
    try:
        # Inside a caller's transaction, a savepoint keeps a duplicate-key error from breaking it.
        with transaction.atomic() if not own else contextlib.nullcontext(), server_bound_cursor() as cursor:
            cursor.execute(_HOLD_SQL, [account_id, user_id, amount, reference[:200], key, model_name, own])
            row = cursor.fetchone()
    except IntegrityError:  # the same key held at the same moment by another process: the Python path finds it
        return None
    return _fast_held(row, amount=amount, reference=reference, key=key, model_name=model_name)


def _fast_held(row: Any, *, amount: Decimal, reference: str, key: str, model_name: str) -> CreditReservation | None:
    if row is None or row[2]:
        return None
    return CreditReservation(id=row[0], account_id=row[1], amount=amount, reference=reference[:200], idempotency_key=key,
                             model_name=model_name, status=ReservationStatus.HELD)


async def acredit_reserve(*, user: User, model: Any, prompt_tokens_estimate: int, max_tokens: int | None, reference: str = "",
                          idempotency_key: str | None = None) -> CreditReservation:
    """`credit_reserve` from async code: the common hold as one statement on the loop's own connections, no thread.

    Where the loop has no database pool (`core.db.db_async_pool`), `credit_reserve` runs in a
    thread. Where the statement leaves the hold to Python (a new account, a capped or refused hold,
    a repeated key), only that Python path runs in a thread.
    """
    pool = await db_async_pool()
    if pool is not None:
        requested, key, model_name, amount = _hold_terms(model=model, prompt_tokens=prompt_tokens_estimate, max_tokens=max_tokens,
                                                         idempotency_key=idempotency_key)
        try:
            async with pool.connection() as conn:
                row = await (await conn.execute(_HOLD_SQL, [None, user.pk, amount, reference[:200], key, model_name, True])).fetchone()
        except psycopg.IntegrityError:  # the same key held at the same moment elsewhere: the Python path finds it
            row = None
        held = _fast_held(row, amount=amount, reference=reference, key=key, model_name=model_name)
        if held is not None:
            held.max_tokens, held.capped = requested, False
            return held
        return await _areserve_in_python(user=user, model=model, prompt_tokens=int(prompt_tokens_estimate), requested=requested,
                                         reference=reference, key=key)
    return await _acredit_reserve_in_thread(user=user, model=model, prompt_tokens_estimate=prompt_tokens_estimate, max_tokens=max_tokens,
                                            reference=reference, idempotency_key=idempotency_key)


def affordable_output_tokens(*, model: Any, prompt_tokens: int, available: Decimal) -> int:
    """The most output tokens `available` credits pay for after the prompt (a very large number when output is free)."""
    output_price = Decimal(str(model.output_cost)) / Decimal(1_000_000)
    left = available - credit_cost_ceiling(model=model, prompt_tokens_estimate=prompt_tokens, max_tokens=0)
    if left < 0:
        return -1
    if output_price <= 0:
        return 2**31 - 1
    return int(left / output_price)


@transaction.atomic
def _hold_model_call(*, account: CreditAccount, model: Any, prompt_tokens: int, requested: int, reference: str,
                     key: str) -> CreditReservation:
    _commit_without_waiting_for_disk()
    account = _lock(account)
    existing = CreditReservation.objects.filter(idempotency_key=key).first()
    if existing is not None:  # a redelivery: the hold made the first time, with the budget it allowed
        existing.max_tokens, existing.capped = _budget_of(existing, model=model, prompt_tokens=prompt_tokens, requested=requested)
        return existing
    budget, capped = requested, False
    amount = credit_cost_ceiling(model=model, prompt_tokens_estimate=prompt_tokens, max_tokens=requested)
    if amount > account.available:
        budget = min(requested, affordable_output_tokens(model=model, prompt_tokens=prompt_tokens, available=account.available))
        if budget < MIN_REPLY_TOKENS:
            needed = credit_cost_ceiling(model=model, prompt_tokens_estimate=prompt_tokens, max_tokens=MIN_REPLY_TOKENS)
            raise _insufficient(required=needed, available=account.available)
        capped = True
        amount = credit_cost_ceiling(model=model, prompt_tokens_estimate=prompt_tokens, max_tokens=budget)
    account.held += amount
    account.save(update_fields=["held", "updated_at"])
    reservation = CreditReservation.objects.create(account=account, amount=amount, reference=reference[:200], idempotency_key=key,
                                                   model_name=str(getattr(model, "name", "") or "")[:100])
    reservation.max_tokens, reservation.capped = budget, capped  # not stored: the caller sends it to the provider now
    return reservation


def _budget_of(reservation: CreditReservation, *, model: Any, prompt_tokens: int, requested: int) -> tuple[int, bool]:
    budget = min(requested, affordable_output_tokens(model=model, prompt_tokens=prompt_tokens, available=reservation.amount))
    return (requested, False) if budget >= requested else (max(budget, MIN_REPLY_TOKENS), True)


def credit_hold(*, account_or_user: CreditAccount | User | Workspace, amount: Any, reference: str = "", idempotency_key: str | None = None,
                model_name: str = "") -> CreditReservation:
    """Hold `amount` credits for work whose cost is known afterwards (agent tasks, workflow steps, model calls)."""
    amount = credits(amount)
    if amount < 0:
        raise ValidationError("A hold cannot be negative.", details={"amount": ["Must be >= 0."]})
    # Opened in its own transaction first, so that a 402 below does not roll the new account back.
    account = _account_of(account_or_user)
    return _hold(account=account, amount=amount, reference=reference, key=_key(idempotency_key), model_name=model_name)


@transaction.atomic
def _hold(*, account: CreditAccount, amount: Decimal, reference: str, key: str, model_name: str) -> CreditReservation:
    _commit_without_waiting_for_disk()
    account = _lock(account)
    existing = CreditReservation.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    if amount > account.available:
        raise _insufficient(required=amount, available=account.available)
    account.held += amount
    account.save(update_fields=["held", "updated_at"])
    return CreditReservation.objects.create(account=account, amount=amount, reference=reference[:200], idempotency_key=key,
                                            model_name=model_name[:100])


def credit_settle(*, reservation: CreditReservation, cost: Any, usage_record_id: Any = None) -> CreditReservation:
    """Charge the metered cost and release the rest of the hold; idempotent per reservation.

    A cost above the hold (the prompt estimate was low) is charged as far as the balance goes;
    the remainder is kept in `uncollected`, never taken: balances stay >= 0. One statement
    (`nexus_credit_settle`, migration 0003): the account's row lock is held for microseconds.
    """
    cost = max(credits(cost), ZERO)
    with server_bound_cursor() as cursor:
        cursor.execute("SELECT status, charged, uncollected, usage_record_id, finished_at FROM nexus_credit_settle(%s, %s, %s, %s)",
                       [reservation.pk, cost, str(cost), usage_record_id])
        status, charged, uncollected, usage_id, finished_at = cursor.fetchone()
    reservation.status, reservation.charged, reservation.uncollected = status, charged, uncollected
    reservation.usage_record_id, reservation.finished_at = usage_id, finished_at
    if uncollected > 0:
        logger.warning("Reservation %s: %s credits of metered cost could not be collected", reservation.pk, uncollected)
    return reservation


def credit_settle_many(settlements: list[tuple[Any, Any, Any, Any]]) -> None:
    """Settle many holds in one statement: `(reservation_id, account_id, cost, usage_record_id)` each, as `credit_settle` does.

    The gateway's settlements are queued behind its answers (`core.writebehind.Row`) and run by the
    dozen. They are taken account by account (sorted), so two processes settling holds of the same
    accounts lock them in the same order. A reservation that does not exist fails the whole
    statement; the write-behind batch is then run again row by row, and only that one is lost.
    """
    ordered = sorted(settlements, key=lambda item: (str(item[1]), str(item[0])))
    costs = [str(max(credits(cost), ZERO)) for _, _, cost, _ in ordered]  # the amount and its text, as credit_settle passes them
    with server_bound_cursor() as cursor:
        cursor.execute(
            "SELECT a.reservation, s.uncollected FROM unnest(%s::text[]::uuid[], %s::text[]::numeric[], %s::text[], %s::text[]::uuid[])"
            " WITH ORDINALITY AS a(reservation, cost, cost_text, usage_record, n)"
            " CROSS JOIN LATERAL nexus_credit_settle(a.reservation, a.cost, a.cost_text, a.usage_record) AS s ORDER BY a.n",
            [[str(item[0]) for item in ordered], costs, costs,
             [str(item[3]) if item[3] is not None else None for item in ordered]],
        )
        for reservation_id, uncollected in cursor.fetchall():
            if uncollected > 0:
                logger.warning("Reservation %s: %s credits of metered cost could not be collected", reservation_id, uncollected)


@transaction.atomic
def credit_release(*, reservation: CreditReservation) -> CreditReservation:
    """Give a whole hold back (the call failed before any token); idempotent, no ledger row."""
    account = _lock(reservation.account)
    current = CreditReservation.objects.select_for_update().get(pk=reservation.pk)
    if current.status != ReservationStatus.HELD:
        return current
    account.held -= current.amount
    account.save(update_fields=["held", "updated_at"])
    current.status = ReservationStatus.RELEASED
    current.finished_at = timezone.now()
    current.save(update_fields=["status", "finished_at"])
    return current


def credit_reservations_expire(*, older_than: timedelta) -> int:
    """Release holds left open longer than `older_than` (their process died); a late settle still charges."""
    cutoff = timezone.now() - older_than
    expired = 0
    for pk, account_id in CreditReservation.objects.filter(status=ReservationStatus.HELD, created_at__lt=cutoff).values_list("pk", "account_id"):
        with transaction.atomic():
            account = CreditAccount.objects.select_for_update().get(pk=account_id)
            current = CreditReservation.objects.select_for_update().get(pk=pk)
            if current.status != ReservationStatus.HELD:
                continue
            account.held -= current.amount
            account.save(update_fields=["held", "updated_at"])
            current.status = ReservationStatus.EXPIRED
            current.save(update_fields=["status"])
            expired += 1
    return expired


# Async views (chat, the gateway) call these; each runs in a worker thread with its own connection.
_acredit_reserve_in_thread = db_sync_to_async(credit_reserve)
_areserve_in_python = db_sync_to_async(_reserve_in_python)
acredit_settle = db_sync_to_async(credit_settle)
acredit_release = db_sync_to_async(credit_release)


# ------------------------------------------------------------------------------
# Direct movements
# ------------------------------------------------------------------------------
def credit_charge(*, account_or_user: CreditAccount | User | Workspace, amount: Any, type: str = TransactionType.SPENT, reference: str = "",
                  idempotency_key: str | None = None, model_name: str = "", metadata: dict[str, Any] | None = None) -> CreditTransaction:
    """Take a known amount at once (402 when the available balance cannot cover it)."""
    amount = credits(amount)
    if amount <= 0:
        raise ValidationError("A charge must be positive.", details={"amount": ["Must be > 0."]})
    if type not in CHARGE_TYPES:
        raise ValidationError(f"A charge is of type {' or '.join(CHARGE_TYPES)}.", details={"type": ["Not a charge type."]})
    key = _key(idempotency_key)
    account = _account_of(account_or_user)
    with transaction.atomic():
        return _charge(account=account, amount=amount, type=type, reference=reference, key=key, model_name=model_name, metadata=metadata)


def _charge(*, account: CreditAccount, amount: Decimal, type: str, reference: str, key: str, model_name: str,
            metadata: dict[str, Any] | None) -> CreditTransaction:
    account = _lock(account)
    existing = _existing(key)
    if existing is not None:
        return existing
    if amount > account.available:
        raise _insufficient(required=amount, available=account.available)
    _debit(account, amount)
    account.total_spent += amount
    return _append(account, type=type, amount=-amount, reference=reference, idempotency_key=key, model_name=model_name, metadata=metadata)


@transaction.atomic
def credit_grant(*, account_or_user: CreditAccount | User | Workspace, amount: Any, type: str = TransactionType.EARNED, reference: str = "",
                 idempotency_key: str | None = None, metadata: dict[str, Any] | None = None) -> CreditTransaction:
    """Add credits that never expire (grants, marketplace earnings, top-ups); idempotent by key."""
    amount = credits(amount)
    if amount <= 0:
        raise ValidationError("A grant must be positive.", details={"amount": ["Must be > 0."]})
    if type not in GRANT_TYPES:
        raise ValidationError(f"A grant is of type {', '.join(GRANT_TYPES)}.", details={"type": ["Not a grant type."]})
    key = _key(idempotency_key)
    account = _lock(_account_of(account_or_user))
    existing = _existing(key)
    if existing is not None:
        return existing
    account.purchased += amount
    if type == TransactionType.TOPUP:
        account.total_purchased += amount
    elif type == TransactionType.REFUND:
        account.total_spent = max(account.total_spent - amount, ZERO)
    else:
        account.total_earned += amount
    return _append(account, type=type, amount=amount, reference=reference, idempotency_key=key, metadata=metadata)


def credit_refund(*, account_or_user: CreditAccount | User | Workspace, amount: Any, reference: str = "", idempotency_key: str | None = None,
                  metadata: dict[str, Any] | None = None) -> CreditTransaction:
    """Give credits back for something that was charged and not delivered (a failed task); idempotent by key."""
    return credit_grant(account_or_user=account_or_user, amount=amount, type=TransactionType.REFUND, reference=reference,
                        idempotency_key=idempotency_key, metadata=metadata)


def credit_take_back(*, account: CreditAccount, amount: Any, reference: str, idempotency_key: str,
                     metadata: dict[str, Any] | None = None) -> tuple[CreditTransaction | None, Decimal]:
    """Remove purchased credits whose payment was refunded, as far as they are left; returns (row, removed).

    Must run inside the caller's transaction (it locks the account). Credits already spent
    cannot be taken back: balances stay >= 0 and the shortfall is logged in the row's metadata.
    """
    amount = credits(amount)
    account = _lock(account)
    existing = _existing(idempotency_key)
    if existing is not None:
        return existing, -existing.amount
    removed = min(amount, account.purchased)
    if removed <= 0:
        return None, ZERO
    account.purchased -= removed
    account.total_purchased = max(account.total_purchased - removed, ZERO)
    row = _append(account, type=TransactionType.REFUND, amount=-removed, reference=reference, idempotency_key=idempotency_key,
                  metadata={**(metadata or {}), "requested": str(amount), "shortfall": str(amount - removed)})
    return row, removed


# ------------------------------------------------------------------------------
# Allowance resets
# ------------------------------------------------------------------------------
def credit_allowance_set(*, account: CreditAccount, monthly_credits: Any, period: str, started_at: datetime,
                         idempotency_key: str, reference: str) -> CreditTransaction | None:
    """Set the allowance to a period's monthly credits, once per key (inside the caller's transaction).

    A period that started before the account's current one is recorded as seen but changes nothing,
    so renewals that arrive out of order never roll the allowance back.
    """
    monthly = credits(monthly_credits)
    account = _lock(account)
    existing = _existing(idempotency_key)
    if existing is not None:
        return existing
    if account.period_started_at is not None and started_at < account.period_started_at:
        return None
    delta = monthly - account.allowance
    expired = account.allowance
    account.allowance = monthly
    account.total_earned += max(delta, ZERO)
    account.period = period
    account.period_started_at = started_at
    return _append(account, type=TransactionType.RESET, amount=delta, reference=reference, idempotency_key=idempotency_key,
                   metadata={"period": period, "monthly_credits": str(monthly), "previous_allowance": str(expired)})


def credit_account_reset(*, account_id: Any, now: datetime | None = None) -> bool:
    """Reset one account's allowance for the current calendar month, if not done yet; True when it was reset."""
    now = now or timezone.now()
    period = period_key(now)
    with transaction.atomic():
        account = CreditAccount.objects.select_for_update(of=("self",)).select_related("user").get(pk=account_id)
        if account.period == period or _renewed_by_subscription(account, now):
            return False
        key = f"reset:{account.pk}:{period}"
        if _existing(key) is not None:  # reset for this period already (the period field was edited since)
            CreditAccount.objects.filter(pk=account.pk).update(period=period)
            return False
        row = credit_allowance_set(account=account, monthly_credits=_monthly_credits(account.user), period=period,
                                   started_at=period_start(now), idempotency_key=key,
                                   reference=f"monthly reset {period}")
        return row is not None


# A subscription's invoices renew its allowance; past this long after its period end, the monthly reset takes over.
SUBSCRIPTION_GRACE = timedelta(days=3)


def _renewed_by_subscription(account: CreditAccount, now: datetime) -> bool:
    if not account.has_live_subscription:
        return False
    return account.subscription_period_end is None or account.subscription_period_end + SUBSCRIPTION_GRACE > now


def credit_reset_due(*, now: datetime | None = None) -> int:
    """The monthly reset: every account not reset this period gets its tier's monthly credits; returns how many.

    Safe to run any number of times and concurrently: each account is re-checked under its row
    lock, and the reset row's idempotency key (account, period) is unique.
    """
    now = now or timezone.now()
    period = period_key(now)
    due = CreditAccount.objects.filter(user__isnull=False).exclude(period=period).exclude(
        Q(subscription_status__in=LIVE_SUBSCRIPTION_STATUSES) & ~Q(subscription_id="")
        & (Q(subscription_period_end__isnull=True) | Q(subscription_period_end__gt=now - SUBSCRIPTION_GRACE))
    )
    count = 0
    for account_id in due.values_list("pk", flat=True).iterator(chunk_size=500):
        try:
            count += int(credit_account_reset(account_id=account_id, now=now))
        except IntegrityError:  # a concurrent run reset this account a moment ago
            continue
    return count


def accounts_open(*, users: Iterable[Any]) -> list[CreditAccount]:
    """Open the accounts of many users at once (admin actions, seeds)."""
    return [credit_account_for(user=user) for user in users]
