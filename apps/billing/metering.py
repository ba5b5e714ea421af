"""Credits for one model call prepared by `apps.llm.client`: reserve before, settle after (one call each side).

    reservation = call_reserve(user=user, prepared=prepared, origin="gateway")   # 402 before any provider call
    ...
    await call_settle(reservation=reservation, prepared=prepared, finish=finish)   # the finish event, or the Completion

Settling without `usage` (a stopped or failed stream, where no `finish` event came) charges the
cost of the call's usage record (the LLM client writes one however the call ends), found by the
call's request id once pending metering writes are flushed; no record means nothing was produced.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

from apps.core.db import db_sync_to_async

from .models import CreditReservation
from .services import acredit_release, acredit_settle, credit_reserve

if TYPE_CHECKING:
    from apps.accounts.models import User

logger = logging.getLogger("nexus.billing")

# Settlements running behind a finished answer; kept so that none is garbage collected half-way.
_pending: set[asyncio.Task[Any]] = set()


def call_reserve(*, user: User, prepared: Any, origin: str) -> CreditReservation:
    """Hold the most a prepared call can cost (402 INSUFFICIENT_CREDITS when it cannot be covered)."""
    # A fresh key per call: the request id can come from the client and must not make two calls one.
    reservation = credit_reserve(user=user, model=prepared.model, prompt_tokens_estimate=prepared.estimated_prompt_tokens,
                                 max_tokens=prepared.request.max_tokens, reference=f"{origin}:{prepared.request_id}",
                                 idempotency_key=f"{origin}:{uuid.uuid4().hex}")
    apply_budget(prepared=prepared, reservation=reservation)
    return reservation


def apply_budget(*, prepared: Any, reservation: CreditReservation | None) -> None:
    """Send the provider the output budget the hold covers, when the balance lowered it (API.md: never refuse what it can pay)."""
    if reservation is not None and reservation.capped and reservation.max_tokens is not None:
        prepared.request.max_tokens = reservation.max_tokens


def max_tokens_header(*reservations: CreditReservation | None) -> dict[str, str]:
    """`X-Nexus-Max-Tokens` when a hold lowered a call's output budget (the smallest, for calls answered together)."""
    capped = [r.max_tokens for r in reservations if r is not None and r.capped and r.max_tokens is not None]
    return {"X-Nexus-Max-Tokens": str(min(capped))} if capped else {}


def _recorded_usage(*, request_id: str, user_id: Any, since: Any) -> tuple[Any, Any] | None:
    from apps.llm.models import UsageRecord

    row = (UsageRecord.objects.filter(request_id=request_id, user_id=user_id, created_at__gte=since)
           .order_by("-created_at").values_list("cost", "pk").first())
    return (row[0], row[1]) if row else None


_arecorded_usage = db_sync_to_async(_recorded_usage)


async def _settle(*, reservation: CreditReservation, prepared: Any, finish: Any) -> None:
    try:
        usage = getattr(finish, "usage", None)
        if usage is not None and getattr(usage, "cost", None) is not None:
            await acredit_settle(reservation=reservation, cost=usage.cost, usage_record_id=getattr(finish, "usage_record_id", None))
            return
        from apps.llm import client

        flush = getattr(client, "usage_flush", None)  # records may be written behind the answer
        if flush is not None:
            await flush()
        recorded = await _arecorded_usage(request_id=prepared.request_id, user_id=prepared.user_id, since=reservation.created_at)
        if recorded is None:
            await acredit_release(reservation=reservation)
        else:
            await acredit_settle(reservation=reservation, cost=recorded[0], usage_record_id=recorded[1])
    except Exception:  # the hold expires by itself (credit_reservations_expire); the answer is not failed for it
        logger.exception("Could not settle reservation %s", reservation.pk)


async def call_settle(*, reservation: CreditReservation | None, prepared: Any, finish: Any = None) -> None:
    """Charge the call's metered cost and release the rest of its hold (idempotent).

    `finish` is the call's `finish` event or `Completion` (usage with cost, usage record id); without
    one (stopped, failed) the call's usage record is charged. The work runs in its own task, so a
    cancelled stream (the client went away) still settles.
    """
    if reservation is None:
        return
    task = asyncio.ensure_future(_settle(reservation=reservation, prepared=prepared, finish=finish))
    _pending.add(task)
    task.add_done_callback(_pending.discard)
    await asyncio.shield(task)


async def settlements_flush() -> None:
    """Wait for settlements still running behind cancelled streams (tests, shutdown)."""
    while _pending:
        await asyncio.gather(*list(_pending), return_exceptions=True)


async def call_release(*, reservation: CreditReservation | None) -> None:
    """Give the whole hold back (the call never reached a provider)."""
    if reservation is not None:
        await acredit_release(reservation=reservation)
