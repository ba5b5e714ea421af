"""A reply's generation, detached from the HTTP response that asked for it.

`reply_spawn(start)` runs `reply_generate` as a task of the web process's event loop. It streams
from the provider, publishes every event to the reply's `core.streams` stream (which the response,
and any client that re-attaches later, reads), and saves the reply as it grows (at least once a
second, and every few seconds while the provider is silent: the lease the orphan reaper looks at).
A client that goes away loses nothing; `POST /conversations/{id}/stop` sets the reply's cancel
flag (`apps.core.runs`), which the generation, in whichever process it runs, sees within
RUN_CANCEL_POLL_SECONDS, and cancelling it closes the upstream call.
"""
from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.accounts.limits import hourly_quota_add
from apps.billing.metering import acall_hold, call_settle, hold_settle
from apps.core.db import db_sync_to_async
from apps.core.errors import ApplicationError
from apps.core.loops import Detached, LoopLocal
from apps.core.registry import platform_tools
from apps.core.runs import cancel_key, run_watch, worker_id
from apps.core.streams import apublish, local_producer
from apps.llm.client import PreparedChat, stream_prepared
from apps.llm.selectors import usage_record_for_request, usage_summary

from .models import Conversation, Message, MessageStatus
from .selectors import reply_stream_key
from .services import CANCEL_KIND, ChatStart
from .tasks import conversation_title_generate

logger = logging.getLogger("nexus.chat")

SAVE_INTERVAL = 1.0


def _beat_every() -> float:
    # Renewed well within CHAT_ORPHAN_SECONDS, so a reply waiting on a silent provider is never
    # taken for one whose process died (every 5 s with the default 30).
    return max(0.5, min(SAVE_INTERVAL * 5, settings.CHAT_ORPHAN_SECONDS / 3))

_running = Detached()  # a reply nobody awaits must not be garbage collected half-way


def reply_spawn(start: ChatStart) -> asyncio.Task[None]:
    """Start generating a reply on the running loop, detached from the caller."""
    return _running.start(reply_generate(start), name=f"chat-reply:{start.reply.id}")


# One statement for all of them: the rows' new values travel as arrays. (The ORM's bulk_update
# builds a CASE per field and row, and compiling it for 500 replies held the GIL for tens of
# milliseconds a second, which every stream of the process felt as a stall.) The status filter keeps a
# save that lands after a reply's end (written by `_finish` in its own statement) from turning it
# back into a partial one.
_SAVE_SQL = f"""
UPDATE {Message._meta.db_table} AS m
   SET content = v.content, reasoning = v.reasoning, generator = v.generator, updated_at = v.updated_at
  FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::timestamptz[]) AS v(id, content, reasoning, generator, updated_at)
 WHERE m.id = v.id AND m.status = '{MessageStatus.STREAMING.value}'
"""


def replies_save(replies: list[Message]) -> int:
    """Save the text so far of many replies in one UPDATE; a reply that has ended is left alone."""
    if not replies:
        return 0
    columns: tuple[list[Any], ...] = ([], [], [], [], [])
    for reply in replies:
        for column, value in zip(columns, (reply.pk, reply.content, reply.reasoning, reply.generator, reply.updated_at), strict=True):
            column.append(value)
    with connection.cursor() as cursor:
        cursor.execute(_SAVE_SQL, columns)
        return cursor.rowcount


@dataclass(eq=False)
class _Live:
    reply_id: Any
    text: list[str]
    reasoning: list[str]
    saved_parts: tuple[int, int] = (-1, -1)
    saved_at: float = 0.0


class _ReplySaver:
    """Saves every reply this process is generating, in one UPDATE per SAVE_INTERVAL.

    500 replies streamed by one process cost one statement and one thread hop a second, not 500. A
    reply whose text grew is saved at the next tick; one that did not is saved every `_beat_every()`
    seconds anyway: its `updated_at` is the lease the orphan reaper looks at.
    """

    def __init__(self) -> None:
        self.live: dict[Any, _Live] = {}
        self.task: asyncio.Task[None] | None = None

    def add(self, reply_id: Any, text: list[str], reasoning: list[str]) -> None:
        self.live[reply_id] = _Live(reply_id, text, reasoning, saved_at=time.monotonic())
        if self.task is None or self.task.done():
            # A fresh context: the saver outlives the request that started it (its request id, its request thread).
            self.task = asyncio.get_running_loop().create_task(self._run(), name="chat-reply-saver",
                                                               context=contextvars.Context())

    def remove(self, reply_id: Any) -> None:
        self.live.pop(reply_id, None)

    async def _run(self) -> None:
        while self.live:
            await asyncio.sleep(min(SAVE_INTERVAL, _beat_every()))
            try:
                await self.flush()
            except Exception:  # a database hiccup: what was not saved is saved at the next tick
                logger.warning("Could not save %d streaming replies", len(self.live), exc_info=True)

    async def flush(self) -> None:
        """Save the replies that grew, and those not saved for a lease interval."""
        now, beat, generator = time.monotonic(), _beat_every(), worker_id()
        due: list[tuple[_Live, tuple[int, int]]] = []
        batch: list[Message] = []
        for live in list(self.live.values()):
            parts = (len(live.text), len(live.reasoning))
            if parts != live.saved_parts or now - live.saved_at >= beat:
                due.append((live, parts))
                batch.append(Message(pk=live.reply_id, content="".join(live.text), reasoning="".join(live.reasoning),
                                     generator=generator, updated_at=timezone.now()))
        if not batch:
            return
        await db_sync_to_async(replies_save)(batch)
        for live, parts in due:
            live.saved_parts, live.saved_at = parts, now


_savers: LoopLocal[_ReplySaver] = LoopLocal(_ReplySaver)


@db_sync_to_async
def _usage_for(request_id: str) -> dict[str, Any] | None:
    return usage_summary(usage_record_for_request(request_id=request_id))


@db_sync_to_async
def _finish(start: ChatStart, *, content: str, reasoning: str, status: str, usage: dict[str, Any] | None,
            usage_record_id: Any, error: dict[str, Any] | None, tool_calls: list[dict[str, Any]] | None,
            charge: dict[str, Any] | None = None) -> None:
    # The reply's end and its charge in one transaction: a process killed in between leaves the reply
    # `streaming`, so the orphan reaper settles it, instead of a finished reply with an open hold.
    with transaction.atomic():
        Message.objects.filter(pk=start.reply.id).update(
            content=content, reasoning=reasoning, status=status, token_usage=usage, usage_record_id=usage_record_id,
            error=error, tool_calls=tool_calls or None, updated_at=timezone.now(),
        )
        Conversation.objects.filter(pk=start.conversation.pk).update(last_message_at=timezone.now(), updated_at=timezone.now())
        # What the first call produced (later tool rounds settle their own holds); the rest of the hold goes back.
        hold_settle(reservation=start.reservation, usage=usage if charge is None else charge)
    if usage and usage.get("total_tokens"):
        hourly_quota_add(user=start.user, kind="chat_tokens", amount=int(usage["total_tokens"]))
    if start.created:
        conversation_title_generate.delay(str(start.conversation.pk))


def _sum_usage(usages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The reply's usage over its rounds of model calls (the first round's usage record stays its record)."""
    if not usages:
        return None
    if len(usages) == 1:
        return usages[0]
    total = dict(usages[0])
    for key in ("prompt_tokens", "completion_tokens", "reasoning_tokens", "total_tokens"):
        total[key] = sum(int(u.get(key) or 0) for u in usages)
    total["cost"] = sum(float(u.get("cost") or 0) for u in usages)
    total["rounds"] = len(usages)
    return total


def _tool_run(start: ChatStart, name: str, args: dict[str, Any], stop: threading.Event) -> dict[str, Any]:
    """Run one platform tool as the caller; its failure is the model's to read, never the user's 500."""
    tool = platform_tools().get(name)
    if tool is None or name not in start.tools:
        return {"error": {"code": "NOT_FOUND", "message": f"There is no tool named `{name}` in this chat."}}
    try:
        return {"result": tool.invoke(user=start.user, api_key=start.api_key, arguments=args, cancelled=stop.is_set)}
    except ApplicationError as exc:
        return {"error": {"code": exc.code, "message": exc.message, **({"details": exc.details} if exc.details else {})}}
    except Exception:
        logger.exception("Tool %s failed in reply %s", name, start.reply.id)
        return {"error": {"code": "INTERNAL_ERROR", "message": f"The tool `{name}` failed."}}


_tool_run_async = db_sync_to_async(_tool_run)


async def reply_generate(start: ChatStart) -> None:
    """Stream the reply from the provider into the stream and the database; always end the stream.

    With platform tools, each round's tool calls are run as the caller (`tool-call`, then
    `tool-result` events), their results go back to the model in a new call, and so on for at most
    `max_tool_rounds` rounds. Each later call holds and settles its own credits.
    """
    key = reply_stream_key(start.reply.id)
    # This task is the stream's only writer: the response streaming it in this process gets each
    # event handed over, not read back from Redis.
    with local_producer(key):
        await _reply_generate(start, key)


async def _reply_generate(start: ChatStart, key: str) -> None:
    text: list[str] = []
    reasoning: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    usages: list[dict[str, Any]] = []
    usage: dict[str, Any] | None = None
    status = MessageStatus.COMPLETE
    error: dict[str, Any] | None = None
    final_event: dict[str, Any] | None = None
    stop_tools = threading.Event()  # tools that wait (workflows, agents) give up when the reply is stopped
    # The call being streamed now, and its own hold when it is a later round (None: the reply's hold).
    current: dict[str, Any] = {"prepared": start.prepared, "reservation": None, "call": None}

    async def consume() -> None:
        if start.sources:
            await apublish(key, {"type": "sources", "sources": start.sources})
        prepared = start.prepared
        rounds = 0
        while True:
            round_text: list[str] = []
            calls: list[dict[str, Any]] = []
            stream = stream_prepared(prepared)
            try:
                finish = await consume_stream(stream, round_text, calls)
            finally:
                # Close the provider stream here, not when the garbage collector gets to it: its
                # `finally` meters a stop, and the stop's usage is read right after this task ends.
                await stream.aclose()
            if current["reservation"] is not None:
                await call_settle(reservation=current["reservation"], prepared=prepared, finish=finish)
                current["reservation"] = None
            if not calls or not start.tools:
                return
            if rounds >= start.max_tool_rounds:
                for call in calls:  # the model asked for more than the rounds allow: said, not run
                    outcome = {"error": {"code": "CONFLICT", "message": f"At most {start.max_tool_rounds} rounds of tool calls."}}
                    await _publish_call(call, outcome)
                return
            rounds += 1
            results = []
            for call in calls:
                await apublish(key, {"type": "tool-call", "call_id": call["id"], "tool_name": call["name"], "args": call["args"]})
                current["call"] = call
                outcome = await _tool_run_async(start, call["name"], call["args"], stop_tools)
                current["call"] = None
                await _publish_call(call, outcome, announced=True)
                results.append(outcome)
            prepared = await _next_round(prepared, "".join(round_text), calls, results, rounds)

    async def _publish_call(call: dict[str, Any], outcome: dict[str, Any], announced: bool = False) -> None:
        if not announced:
            await apublish(key, {"type": "tool-call", "call_id": call["id"], "tool_name": call["name"], "args": call["args"]})
        await apublish(key, {"type": "tool-result", "call_id": call["id"], "tool_name": call["name"], **outcome})
        tool_calls.append({**call, **outcome})

    async def _next_round(prepared: PreparedChat, said: str, calls: list[dict[str, Any]], results: list[dict[str, Any]],
                          rounds: int) -> PreparedChat:
        messages = list(prepared.request.messages)
        messages.append({"role": "assistant", "content": said, "tool_calls": [
            {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": json.dumps(call["args"])}}
            for call in calls]})
        for call, outcome in zip(calls, results, strict=True):
            messages.append({"role": "tool", "tool_call_id": call["id"], "name": call["name"],
                             "content": json.dumps(outcome, default=str)})
        request = dataclasses.replace(prepared.request, messages=messages)
        following = dataclasses.replace(prepared, request=request, request_id=f"{start.prepared.request_id}.r{rounds}",
                                        estimated_prompt_tokens=prepared.estimated_prompt_tokens + _estimate(messages[-len(calls) - 1:]))
        current["prepared"] = following
        # Each later call is held like the first (402 ends the reply with an error event).
        current["reservation"] = await acall_hold(user=start.user, prepared=following, origin="chat", ref=f"{start.reply.id}.r{rounds}")
        return following

    async def consume_stream(stream: Any, round_text: list[str], calls: list[dict[str, Any]]) -> Any:
        nonlocal usage
        async for event in stream:
            if event.type == "text-delta":
                text.append(event.content)
                round_text.append(event.content)
            elif event.type == "reasoning-delta":
                reasoning.append(event.content)
            elif event.type == "tool-call":
                call = {"id": event.tool_call_id, "name": event.tool_name, "args": event.args or {}}
                if start.tools:
                    calls.append(call)  # announced with its result, once the round's text is out
                    continue
                tool_calls.append(call)
                await apublish(key, {"type": "tool-call", "call_id": call["id"], "tool_name": call["name"], "args": call["args"]})
                continue
            if event.type == "finish":
                round_usage = event.usage.as_dict() if event.usage else None
                if round_usage is not None:
                    round_usage["usage_record_id"] = event.usage_record_id
                    usages.append(round_usage)
                usage = _sum_usage(usages)
                return event  # the finish event goes out last, after the reply is saved
            await apublish(key, event.as_dict())
        return None

    saver = _savers.get()
    saver.add(start.reply.id, text, reasoning)  # saved as it grows, and its lease renewed, by the process's saver
    consumer = asyncio.ensure_future(consume())
    watcher = asyncio.ensure_future(run_watch(cancel_key(CANCEL_KIND, start.reply.id), consumer))
    try:
        await consumer
    except asyncio.CancelledError:
        if not consumer.cancelled():
            raise  # this task itself is being cancelled (process shutdown)
        stop_tools.set()
        status = MessageStatus.INCOMPLETE
        if current["call"] is not None:  # stopped while the tool ran: kept, marked, so a reload shows it
            tool_calls.append({**current["call"], "stopped": True})
        await _settle_stopped_round(current)
        usage = await _stopped_usage(start, usages)
    except ApplicationError as exc:
        stop_tools.set()
        status = MessageStatus.FAILED
        error = {"code": exc.code, "message": exc.message}
        await _settle_stopped_round(current)
        usage = await _stopped_usage(start, usages)
        final_event = {"type": "error", "error": error}
    except Exception:
        stop_tools.set()
        logger.exception("Reply %s failed", start.reply.id)
        status = MessageStatus.FAILED
        error = {"code": "INTERNAL_ERROR", "message": "The reply failed; it was saved as far as it got."}
        await _settle_stopped_round(current)
        final_event = {"type": "error", "error": error}
    finally:
        watcher.cancel()
        saver.remove(start.reply.id)
        try:
            await _finish(start, content="".join(text), reasoning="".join(reasoning), status=status, usage=usage,
                          usage_record_id=(usages[0] if usages else usage or {}).get("usage_record_id"), error=error,
                          tool_calls=tool_calls, charge=usages[0] if usages else usage)
        except Exception:
            logger.exception("Could not save the end of reply %s", start.reply.id)
        finally:
            await start.slot.__aexit__(None, None, None)
        if final_event is None:
            final_event = {"type": "finish", "status": status, "usage": usage}
        final_event["message_id"] = str(start.reply.id)
        await apublish(key, final_event, final=True)


def _estimate(messages: list[dict[str, Any]]) -> int:
    from apps.llm.tokens import estimate_prompt_tokens

    return estimate_prompt_tokens(messages, None, None)


async def _settle_stopped_round(current: dict[str, Any]) -> None:
    """A later round stopped or failed: charge what its call metered (or release its hold)."""
    if current["reservation"] is not None:
        await call_settle(reservation=current["reservation"], prepared=current["prepared"], finish=None)
        current["reservation"] = None


async def _stopped_usage(start: ChatStart, usages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The usage of a reply that ended early: the finished rounds, else the first call's own record."""
    if usages:
        return _sum_usage(usages)
    return await _usage_for(start.prepared.request_id)
