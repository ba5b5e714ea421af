"""The one metering seam: every feature that makes a model call holds and settles credits here, and only here.

    hold = call_hold(user=user, prepared=prepared, origin="chat", ref=reply_id)   # 402 before any provider call
    ... stream or complete the call (the hold may have lowered prepared.request.max_tokens) ...
    hold_settle(reservation=hold, usage=usage)                 # sync: inside the caller's own transaction
    await call_settle(reservation=hold, prepared=prepared, finish=finish)   # async: from the finish event

The seam owns the reference and idempotency keys of a hold and the affordability rule of API.md
(`credit_reserve`: cap the output budget to what the balance covers; 402 only when the prompt and
a 16-token reply are unaffordable). A hold with a stable `ref` (a reply id, an execution and
prompt) is found again by a re-run, so a redelivered job never holds or charges twice; without
one (gateway, compare) every call is its own hold.

Settling without usage (a stopped or failed stream, where no `finish` event came) charges the
cost of the call's usage record (the LLM client writes one however the call ends), found by the
call's request id once pending metering writes are flushed; no record means nothing was produced.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from apps.core.db import db_sync_to_async
from apps.core.loops import Detached
from apps.core.writebehind import Row, write_behind, write_behind_flush
from apps.llm.selectors import usage_record_for_request

from .errors import InsufficientCredits
from .models import CreditReservation
from .selectors import balance_for
from .services import (
    acredit_release,
    acredit_reserve,
    acredit_settle,
    credit_hold,
    credit_release,
    credit_reserve,
    credit_settle,
    credit_settle_many,
)

if TYPE_CHECKING:
    from apps.accounts.models import User

logger = logging.getLogger("nexus.billing")

_pending = Detached()  # settlements running behind a finished answer


def _keys(origin: str, ref: Any, request_id: str) -> tuple[str, str]:
    if ref is None:
        # A fresh key per call: the request id can come from the client and must not make two calls one.
        return f"{origin}:{request_id}", f"{origin}:{uuid.uuid4().hex}"
    return f"{origin}:{ref}", f"{origin}-reserve:{ref}"


def _reserve_args(*, user: User, prepared: Any, origin: str, ref: Any) -> dict[str, Any]:
    reference, key = _keys(origin, ref, prepared.request_id)
    return {"user": user, "model": prepared.model, "prompt_tokens_estimate": prepared.estimated_prompt_tokens,
            "max_tokens": prepared.request.max_tokens or prepared.model.max_output_tokens, "reference": reference, "idempotency_key": key}


def call_hold(*, user: User, prepared: Any, origin: str, ref: Any = None) -> CreditReservation:
    """Hold the most a prepared call can cost, lowering its `max_tokens` to what the balance covers (402 below 16 tokens).

    `ref` makes the hold idempotent: the same origin and ref find the same hold (a re-run never holds twice).
    """
    reservation = credit_reserve(**_reserve_args(user=user, prepared=prepared, origin=origin, ref=ref))
    apply_budget(prepared=prepared, reservation=reservation)
    return reservation


async def acall_hold(*, user: User, prepared: Any, origin: str, ref: Any = None) -> CreditReservation:
    """`call_hold` from async code (the common hold costs no thread hop where the loop has its own connections)."""
    reservation = await acredit_reserve(**_reserve_args(user=user, prepared=prepared, origin=origin, ref=ref))
    apply_budget(prepared=prepared, reservation=reservation)
    return reservation


def amount_hold(*, user: User, amount: Decimal, origin: str, ref: Any = None, model_name: str = "") -> CreditReservation:
    """Hold the most a call priced per unit can cost (speech: audio minutes, characters); 402 when the balance cannot.

    Settled like any call: `call_settle(reservation=..., prepared=..., finish=result)` with the result's usage and record.
    """
    reference, key = _keys(origin, ref, uuid.uuid4().hex)
    return credit_hold(account_or_user=user, amount=amount, reference=reference, idempotency_key=key, model_name=model_name)


aamount_hold = db_sync_to_async(amount_hold)


def hold_find(*, origin: str, ref: Any) -> CreditReservation | None:
    """The hold `call_hold(origin=..., ref=...)` made, if any (reapers settle what a dead process held)."""
    return CreditReservation.objects.filter(idempotency_key=_keys(origin, ref, "")[1]).first()


def hold_settle(*, reservation: CreditReservation | None, usage: dict[str, Any] | None) -> None:
    """Charge a run's metered usage (`{"cost", "usage_record_id", ...}`; None: nothing produced) and release the rest."""
    if reservation is None:
        return
    usage = usage or {}
    credit_settle(reservation=reservation, cost=Decimal(str(usage.get("cost") or 0)), usage_record_id=usage.get("usage_record_id"))


def credits_require(*, user: Any, minimum: Decimal, what: str) -> None:
    """402 before any work when `minimum` credits are not available (a chain's cheapest possible run, say)."""
    available = Decimal(str(balance_for(user=user)["available"]))
    if minimum > available:
        raise InsufficientCredits(
            f"{what} needs at least {minimum:.6f} credits; {max(available, Decimal(0)):f} are available.",
            details={"required": [f"{minimum:.6f}"], "available": [str(max(available, Decimal(0)))]},
        )


def apply_budget(*, prepared: Any, reservation: CreditReservation | None) -> None:
    """Send the provider the output budget the hold covers, when the balance lowered it (API.md: never refuse what it can pay)."""
    if reservation is not None and reservation.capped and reservation.max_tokens is not None:
        prepared.request.max_tokens = reservation.max_tokens


def max_tokens_header(*reservations: CreditReservation | None) -> dict[str, str]:
    """`X-Nexus-Max-Tokens` when a hold lowered a call's output budget (the smallest, for calls answered together)."""
    capped = [r.max_tokens for r in reservations if r is not None and r.capped and r.max_tokens is not None]
    return {"X-Nexus-Max-Tokens": str(min(capped))} if capped else {}


_arecorded_usage = db_sync_to_async(usage_record_for_request)


async def _settle(*, reservation: CreditReservation, prepared: Any, finish: Any) -> None:
    try:
        usage = getattr(finish, "usage", None)
        if usage is not None and getattr(usage, "cost", None) is not None:
            await acredit_settle(reservation=reservation, cost=usage.cost, usage_record_id=getattr(finish, "usage_record_id", None))
            return
        from apps.llm import client

        await client.usage_flush()  # records may be written behind the answer
        record = await _arecorded_usage(request_id=prepared.request_id, user_id=prepared.user_id, since=reservation.created_at)
        if record is None:
            await acredit_release(reservation=reservation)
        else:
            await acredit_settle(reservation=reservation, cost=record.cost, usage_record_id=record.pk)
    except Exception:  # the hold expires by itself (credit_reservations_expire); the answer is not failed for it
        logger.exception("Could not settle reservation %s", reservation.pk)


async def call_settle(*, reservation: CreditReservation | None, prepared: Any, finish: Any = None, wait: bool = True) -> None:
    """Charge the call's metered cost and release the rest of its hold (idempotent).

    `finish` is the call's `finish` event or `Completion` (usage with cost, usage record id); without
    one (stopped, failed) the call's usage record is charged. The work runs in its own task, so a
    cancelled stream (the client went away) still settles. `wait=False` lets the answer go out first
    (the gateway): the settlement is the caller's bookkeeping, not part of what the client waits for;
    `settlements_flush()` waits for it, and a hold whose process died expires by itself.
    """
    if reservation is None:
        return
    usage = getattr(finish, "usage", None)
    if not wait and usage is not None and getattr(usage, "cost", None) is not None:
        # The cost is known: one row behind the answer, sharing a hop, a commit and a statement with the other settlements queued.
        write_behind(Row(credit_settle_many, (reservation.pk, reservation.account_id, usage.cost, getattr(finish, "usage_record_id", None))),
                     locks=True)
        return
    task = _pending.start(_settle(reservation=reservation, prepared=prepared, finish=finish))
    if wait:
        await asyncio.shield(task)


async def settlements_flush() -> None:
    """Wait for settlements still running behind cancelled streams or queued behind answers (tests, shutdown)."""
    await _pending.drain()
    await write_behind_flush()


def hold_release(*, reservation: CreditReservation | None) -> None:
    """Give the whole hold back (the call never reached a provider)."""
    if reservation is not None:
        credit_release(reservation=reservation)


async def call_release(*, reservation: CreditReservation | None) -> None:
    """Give the whole hold back from async code."""
    if reservation is not None:
        await acredit_release(reservation=reservation)
