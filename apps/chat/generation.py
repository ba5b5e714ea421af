"""A reply's generation, detached from the HTTP response that asked for it.

`reply_spawn(start)` runs `reply_generate` as a task of the web process's event loop. It streams
from the provider, publishes every event to the reply's `core.streams` stream (which the response,
and any client that re-attaches later, reads), and saves the reply as it grows (at least once a
second, which is also the heartbeat the orphan reaper looks at). A client that goes away loses
nothing; `POST /conversations/{id}/stop` sets a flag in Redis that the generation, in whichever
process it runs, sees within a quarter of a second, and cancelling it closes the upstream call.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import redis
import redis.asyncio as aioredis
from django.conf import settings
from django.utils import timezone

from apps.accounts.limits import hourly_quota_add
from apps.core.db import db_sync_to_async
from apps.core.errors import ApplicationError
from apps.core.streams import apublish, stream_key
from apps.llm.client import stream_prepared
from apps.llm.models import UsageRecord

from .models import Conversation, Message, MessageStatus
from .services import ChatStart

logger = logging.getLogger("nexus.chat")

SAVE_INTERVAL = 1.0
STOP_POLL_INTERVAL = 0.25
GENERATOR_ID = f"{socket.gethostname()}:{os.getpid()}"

# Strong references: a task nobody awaits must not be garbage-collected mid-reply.
_running: set[asyncio.Task[None]] = set()


def reply_stream_key(message_id: Any) -> str:
    """The core.streams key of a reply's events."""
    return stream_key("chat", message_id)


def stop_flag_key(message_id: Any) -> str:
    """The Redis key that asks a reply to stop."""
    return f"nexus:chat:stop:{message_id}"


def reply_spawn(start: ChatStart) -> asyncio.Task[None]:
    """Start generating a reply on the running loop, detached from the caller."""
    task = asyncio.get_running_loop().create_task(reply_generate(start), name=f"chat-reply:{start.reply.id}")
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


@db_sync_to_async
def _save_partial(message_id: Any, content: str, reasoning: str) -> None:
    Message.objects.filter(pk=message_id, status=MessageStatus.STREAMING).update(
        content=content, reasoning=reasoning, generator=GENERATOR_ID, updated_at=timezone.now()
    )


@db_sync_to_async
def _usage_for(request_id: str) -> UsageRecord | None:
    return UsageRecord.objects.filter(request_id=request_id).order_by("-created_at").first()


@db_sync_to_async
def _finish(start: ChatStart, *, content: str, reasoning: str, status: str, usage: dict[str, Any] | None,
            usage_record_id: Any, error: dict[str, Any] | None, tool_calls: list[dict[str, Any]] | None) -> None:
    Message.objects.filter(pk=start.reply.id).update(
        content=content, reasoning=reasoning, status=status, token_usage=usage, usage_record_id=usage_record_id,
        error=error, tool_calls=tool_calls or None, updated_at=timezone.now(),
    )
    Conversation.objects.filter(pk=start.conversation.pk).update(last_message_at=timezone.now(), updated_at=timezone.now())
    _settle_credits(start, usage)
    if usage and usage.get("total_tokens"):
        hourly_quota_add(user=start.user, kind="chat_tokens", amount=int(usage["total_tokens"]))
    if start.created:
        from .tasks import conversation_title_generate

        conversation_title_generate.delay(str(start.conversation.pk))


def _settle_credits(start: ChatStart, usage: dict[str, Any] | None) -> None:
    """Charge what was produced and release the rest of the hold (billing's one seam)."""
    if start.reservation is None:
        return
    from apps.billing import services as billing

    cost = Decimal(str((usage or {}).get("cost") or 0))
    billing.credit_settle(reservation=start.reservation, cost=cost, usage_record_id=(usage or {}).get("usage_record_id"))


async def _watch_for_stop(message_id: Any, target: asyncio.Task[Any]) -> None:
    client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
    try:
        while not target.done():
            try:
                if await client.exists(stop_flag_key(message_id)):
                    target.cancel()
                    return
            except Exception:  # Redis hiccup: keep generating, look again
                logger.warning("Could not read the stop flag of %s", message_id)
            await asyncio.sleep(STOP_POLL_INTERVAL)
    finally:
        await client.aclose()


def _usage_dict(record: UsageRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "prompt_tokens": record.prompt_tokens, "completion_tokens": record.completion_tokens,
        "reasoning_tokens": record.reasoning_tokens, "total_tokens": record.total_tokens,
        "cost": float(record.cost), "usage_record_id": str(record.pk),
    }


async def reply_generate(start: ChatStart) -> None:
    """Stream the reply from the provider into the stream and the database; always end the stream."""
    key = reply_stream_key(start.reply.id)
    text: list[str] = []
    reasoning: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    usage: dict[str, Any] | None = None
    status = MessageStatus.COMPLETE
    error: dict[str, Any] | None = None
    final_event: dict[str, Any] | None = None

    async def consume() -> None:
        if start.sources:
            await apublish(key, {"type": "sources", "sources": start.sources})
        stream = stream_prepared(start.prepared)
        try:
            await consume_stream(stream)
        finally:
            # Close the provider stream here, not when the garbage collector gets to it: its
            # `finally` meters a stop, and the stop's usage is read right after this task ends.
            await stream.aclose()

    async def consume_stream(stream: Any) -> None:
        nonlocal usage
        last_save = time.monotonic()
        async for event in stream:
            if event.type == "text-delta":
                text.append(event.content)
            elif event.type == "reasoning-delta":
                reasoning.append(event.content)
            elif event.type == "tool-call":
                tool_calls.append({"id": event.tool_call_id, "name": event.tool_name, "args": event.args or {}})
            if event.type == "finish":
                usage = event.usage.as_dict() if event.usage else None
                if usage is not None:
                    usage["usage_record_id"] = event.usage_record_id
                continue  # the finish event goes out last, after the reply is saved
            await apublish(key, event.as_dict())
            if time.monotonic() - last_save >= SAVE_INTERVAL:
                await _save_partial(start.reply.id, "".join(text), "".join(reasoning))
                last_save = time.monotonic()

    async def heartbeat() -> None:
        # Keeps `updated_at` fresh while a slow provider sends nothing, so the reaper leaves us be.
        while True:
            await asyncio.sleep(SAVE_INTERVAL * 5)
            await _save_partial(start.reply.id, "".join(text), "".join(reasoning))

    consumer = asyncio.ensure_future(consume())
    watcher = asyncio.ensure_future(_watch_for_stop(start.reply.id, consumer))
    pulse = asyncio.ensure_future(heartbeat())
    try:
        await consumer
    except asyncio.CancelledError:
        if not consumer.cancelled():
            raise  # this task itself is being cancelled (process shutdown)
        status = MessageStatus.INCOMPLETE
        record = await _usage_for(start.prepared.request_id)
        usage = _usage_dict(record)
    except ApplicationError as exc:
        status = MessageStatus.FAILED
        error = {"code": exc.code, "message": exc.message}
        record = await _usage_for(start.prepared.request_id)
        usage = _usage_dict(record)
        final_event = {"type": "error", "error": error}
    except Exception:
        logger.exception("Reply %s failed", start.reply.id)
        status = MessageStatus.FAILED
        error = {"code": "INTERNAL_ERROR", "message": "The reply failed; it was saved as far as it got."}
        final_event = {"type": "error", "error": error}
    finally:
        watcher.cancel()
        pulse.cancel()
        try:
            await _finish(start, content="".join(text), reasoning="".join(reasoning), status=status, usage=usage,
                          usage_record_id=(usage or {}).get("usage_record_id"), error=error, tool_calls=tool_calls)
        except Exception:
            logger.exception("Could not save the end of reply %s", start.reply.id)
        finally:
            await start.slot.__aexit__(None, None, None)
        if final_event is None:
            final_event = {"type": "finish", "status": status, "usage": usage}
        final_event["message_id"] = str(start.reply.id)
        await apublish(key, final_event, final=True)


def reply_stop(*, message: Message) -> None:
    """Ask the generation of `message` to stop, wherever it runs."""
    redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=2).set(stop_flag_key(message.pk), "1", ex=600)


def orphan_cutoff() -> Any:
    """Replies not saved since this moment have lost their process."""
    return timezone.now() - timedelta(seconds=settings.CHAT_ORPHAN_SECONDS)

