"""Model compare: one prompt, two models at once, each with its tokens, duration and cost."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apps.accounts.limits import concurrency_slot
from apps.accounts.policy import tier_policy
from apps.billing.metering import call_hold, call_settle
from apps.billing.services import credit_release
from apps.core.db import db_sync_to_async
from apps.core.errors import ApplicationError
from apps.llm.client import PreparedChat, chat_prepare, complete_prepared, stream_prepared

from .models import Comparison

if TYPE_CHECKING:
    from apps.accounts.models import User


@dataclass
class CompareStart:
    """Both calls checked and a compare slot held."""

    user: User
    prompt: str
    system_prompt: str
    prepared: tuple[PreparedChat, PreparedChat]
    slot: concurrency_slot
    reservations: tuple[Any, ...] = (None, None)


def compare_start(*, user: User, api_key: Any, prompt: str, model1_id: str, model2_id: str, system_prompt: str = "") -> CompareStart:
    """Check both models and the input (404/403/400 before any provider call) and take a slot (429)."""
    messages = [{"role": "user", "content": prompt}]
    prepared = tuple(
        chat_prepare(user=user, model=model_id, messages=messages, system_prompt=system_prompt or None, api_key=api_key, origin="compare")
        for model_id in (model1_id, model2_id)
    )
    # Credits for both answers are held first (402 before any provider call), released if the slot is refused.
    reservations: list[Any] = []
    try:
        for one in prepared:
            reservations.append(call_hold(user=user, prepared=one, origin="compare"))
        slot = concurrency_slot(user=user, kind="compare", limit=tier_policy(user).compare_concurrent)
        slot.__enter__()
    except BaseException:
        for reservation in reservations:
            credit_release(reservation=reservation)
        raise
    return CompareStart(user=user, prompt=prompt, system_prompt=system_prompt, prepared=prepared, slot=slot,  # type: ignore[arg-type]  # prepared has two items, one per model id
                        reservations=tuple(reservations))


def _side(result: dict[str, Any]) -> dict[str, Any]:
    return {key: result.get(key) for key in ("model", "response", "tokens", "usage", "duration_ms", "cost", "status", "error")}


@db_sync_to_async
def _store(start: CompareStart, results: list[dict[str, Any]]) -> Comparison:
    return Comparison.objects.create(
        owner=start.user, prompt=start.prompt, system_prompt=start.system_prompt,
        model1_name=start.prepared[0].model.name, model2_name=start.prepared[1].model.name,
        model1=_side(results[0]), model2=_side(results[1]),
    )


def _usage_fields(usage: Any) -> dict[str, Any]:
    # API.md: `tokens` is the total, a number; `usage` carries the prompt/completion breakdown.
    if usage is None:
        return {"tokens": None, "usage": None, "cost": None}
    breakdown = usage.as_dict()
    return {"tokens": breakdown.get("total_tokens"), "usage": breakdown, "cost": float(usage.cost) if usage.cost is not None else None}


async def compare_run(start: CompareStart) -> Comparison:
    """Both answers, concurrently, without streaming; the comparison is stored."""

    async def one(prepared: PreparedChat, reservation: Any) -> dict[str, Any]:
        started = time.monotonic()
        completion = None
        try:
            completion = await complete_prepared(prepared)
        except ApplicationError as exc:
            return {"model": prepared.model.name, "response": "", "tokens": None, "usage": None, "cost": None, "status": "failed",
                    "error": {"code": exc.code, "message": exc.message}, "duration_ms": int((time.monotonic() - started) * 1000)}
        finally:
            await call_settle(reservation=reservation, prepared=prepared, finish=completion)
        return {"model": prepared.model.name, "response": completion.text, "status": "complete", "error": None,
                "duration_ms": int((time.monotonic() - started) * 1000), **_usage_fields(completion.usage)}

    try:
        results = await asyncio.gather(one(start.prepared[0], start.reservations[0]), one(start.prepared[1], start.reservations[1]))
    finally:
        await start.slot.__aexit__(None, None, None)
    return await _store(start, list(results))


async def compare_stream(start: CompareStart) -> AsyncIterator[dict[str, Any]]:
    """Both answers as one event sequence, each event tagged `"model": 1|2`; ends with `done`."""
    queue: asyncio.Queue[tuple[int, dict[str, Any]] | None] = asyncio.Queue()
    results: list[dict[str, Any]] = [{}, {}]

    async def pump(index: int, prepared: PreparedChat) -> None:
        started = time.monotonic()
        text: list[str] = []
        result: dict[str, Any] = {"model": prepared.model.name, "status": "complete", "error": None, "tokens": None, "usage": None,
                                  "cost": None}
        finish = None
        try:
            async for event in stream_prepared(prepared):
                if event.type == "text-delta":
                    text.append(event.content)
                payload = event.as_dict()
                if event.type == "finish":
                    finish = event
                    result.update(_usage_fields(event.usage))
                    payload["duration_ms"] = int((time.monotonic() - started) * 1000)
                    payload["cost"] = result["cost"]
                await queue.put((index + 1, payload))
        except ApplicationError as exc:
            result.update(status="failed", error={"code": exc.code, "message": exc.message})
            await queue.put((index + 1, {"type": "error", "error": result["error"]}))
        finally:
            await call_settle(reservation=start.reservations[index], prepared=prepared, finish=finish)
            result["response"] = "".join(text)
            result["duration_ms"] = int((time.monotonic() - started) * 1000)
            results[index] = result
            await queue.put(None)

    tasks = [asyncio.ensure_future(pump(i, prepared)) for i, prepared in enumerate(start.prepared)]
    try:
        done = 0
        while done < 2:
            item = await queue.get()
            if item is None:
                done += 1
                continue
            number, payload = item
            yield {**payload, "model": number}
        comparison = await _store(start, results)
        yield {"type": "done", "comparison_id": str(comparison.pk), "model1": _side(results[0]), "model2": _side(results[1])}
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await start.slot.__aexit__(None, None, None)
