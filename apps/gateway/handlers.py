"""The OpenAI-compatible gateway: OpenAI's wire format in and out, Nexus's rules in between.

Same authentication (an `nxk_` key as the SDK's `api_key`), tool (`chat`) and key scope (`chat`),
tier rules, rate limits, concurrency slots and usage records as the rest of Nexus; errors use
OpenAI's error shape `{"error": {"message", "type", "param", "code"}}` on these routes only.

Parameters: the ones Nexus understands are used, well-known OpenAI parameters Nexus does not
support are dropped (and named in `X-Nexus-Dropped-Params`), anything else is refused with 400,
so nothing a caller sends (a base URL, a key, headers) ever reaches the upstream call.
"""
from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponseBase, JsonResponse
from rest_framework.exceptions import APIException, Throttled
from rest_framework.request import Request
from rest_framework.settings import api_settings

from apps.accounts.limits import concurrency_slot
from apps.accounts.permissions import HasTool
from apps.accounts.policy import tier_policy
from apps.billing.metering import acall_hold, call_settle
from apps.core.db import forbid_on_loop, on_loop_or_thread
from apps.core.errors import (
    OUTAGE_RETRY_AFTER_SECONDS,
    ApplicationError,
    MethodNotAllowed,
    Unauthorized,
    ValidationError,
    code_for_status,
    outage_of,
)
from apps.core.exception_handler import retry_after
from apps.core.parsers import json_loads_bounded
from apps.core.ratelimit import Limit, aratelimit_hits
from apps.core.sse import coalesced, sse_response
from apps.llm.client import PreparedChat, chat_prepare, complete_prepared, stream_prepared
from apps.llm.providers.base import Completion, LlmEvent
from apps.llm.selectors import model_list_for_user

if TYPE_CHECKING:
    from apps.accounts.models import User

# Used as given.
SUPPORTED = {"model", "messages", "stream", "stream_options", "temperature", "max_tokens", "max_completion_tokens", "tools",
             "tool_choice", "n", "user"}
# OpenAI parameters Nexus does not pass on: accepted and ignored, as many OpenAI-compatible servers do.
DROPPED = {"top_p", "stop", "presence_penalty", "frequency_penalty", "seed", "logprobs", "top_logprobs", "logit_bias",
           "response_format", "parallel_tool_calls", "metadata", "store", "reasoning_effort", "service_tier", "modalities",
           "audio", "prediction", "web_search_options", "verbosity", "prompt_cache_key", "safety_identifier", "functions",
           "function_call"}

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "insufficient_quota", 403: "permission_error",
               404: "not_found_error", 405: "invalid_request_error", 409: "invalid_request_error", 413: "invalid_request_error",
               429: "rate_limit_error", 503: "service_unavailable_error"}

_chat_permission = HasTool("chat")


class _GatewayRoute:
    """What the DRF permission and throttle classes read from a view."""

    required_scope = "chat"
    throttle_scope = None
    rate_kinds = {"POST": "chat"}  # chat completions count the chat limit too (TierRateThrottle.limits)


_route = _GatewayRoute()


def openai_error(*, status: int, message: str, code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> JsonResponse:
    """An error in OpenAI's shape (this route only)."""
    body = {"error": {"message": message, "type": ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error"),
                      "param": param, "code": code or code_for_status(status)}}
    response = JsonResponse(body, status=status)
    response.nexus_envelope = True  # type: ignore[attr-defined]  # already the route's error shape
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def error_response(exc: Exception) -> JsonResponse:
    """OpenAI-shaped answer for a Nexus or DRF error, or an outage of PostgreSQL or Redis; any other exception is raised again."""
    wait = retry_after(exc)
    headers = {"Retry-After": wait} if wait is not None else None
    if isinstance(exc, ApplicationError):
        param = next(iter(exc.details), None) if exc.details else None
        return openai_error(status=exc.status_code, message=exc.message, code=exc.code, param=param, headers=headers)
    if isinstance(exc, APIException):
        status = 401 if exc.status_code in (401, 403) and "credentials" in str(exc.detail).lower() else exc.status_code
        return openai_error(status=status, message=str(exc.detail) if not isinstance(exc.detail, (list, dict)) else "Request failed.",
                            headers=headers)
    outage = outage_of(exc)
    if outage is not None:
        return openai_error(status=503, message=outage.message, code=outage.code, headers={"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)})
    raise exc


def _authorize(request: HttpRequest) -> tuple[Any, Any, Request, list[Limit]]:
    """The caller, their API key (or None), the DRF request, and the limits the call counts against, after auth, tool and scope checks.

    The throttles of `DEFAULT_THROTTLE_CLASSES` run as on every other route. Those that say what they
    count (`limits(request, view)`: the per-minute API limit, and the chat limit on a POST) are
    returned, for the caller to count together: one Redis round trip for the request's limits.
    Reads only (in-process caches when warm), so it can run on the loop (`on_loop_or_thread`).
    """
    # api_settings imports the configured dotted paths, so these are classes; the stubs type them as the strings.
    drf_request = Request(request, authenticators=[authenticator() for authenticator in api_settings.DEFAULT_AUTHENTICATION_CLASSES])  # type: ignore[operator]
    user = drf_request.user
    if not getattr(user, "is_authenticated", False):
        raise Unauthorized("Pass an API key: `Authorization: Bearer nxk_...`.")
    _chat_permission.has_permission(drf_request, _route)
    limits: list[Limit] = []
    # Every throttle the other routes run (api_settings holds the classes themselves, see above).
    for throttle in (throttle_class() for throttle_class in api_settings.DEFAULT_THROTTLE_CLASSES):  # type: ignore[operator]
        counted = getattr(throttle, "limits", None)
        if counted is not None:  # counted by the caller, with the others, in the one round trip
            limits.extend(counted(drf_request, _route))
        else:
            forbid_on_loop("A throttle that counts by itself")
            if not throttle.allow_request(drf_request, _route):
                raise Throttled(wait=throttle.wait())
    return user, drf_request.auth, drf_request, limits


async def _aauthorize(request: HttpRequest) -> tuple[Any, Any]:
    """`_authorize` on the loop when its caches are warm, with the limits counted there too (no thread)."""
    user, api_key, drf_request, limits = await on_loop_or_thread(_authorize, request)
    await aratelimit_hits(drf_request, limits)
    return user, api_key


@dataclass(slots=True)
class GatewayCall:
    """A checked gateway request."""

    prepared: PreparedChat
    user: User
    stream: bool
    include_usage: bool
    concurrent_limit: int
    dropped: list[str]
    reservation: Any = None
    finish: Any = None


def _bad(field: str, message: str) -> ValidationError:
    return ValidationError(f"Invalid input: {message}", details={field: [message]})


def _check(request: HttpRequest, body: Any) -> tuple[Request, list[Limit], GatewayCall | Exception]:
    """Everything before the provider call that only reads: auth, parameters, model; with the limits to count.

    A bad request is returned, not raised: its limits are counted first, as for any other request.
    """
    user, api_key, drf_request, limits = _authorize(request)
    try:
        return drf_request, limits, _checked_call(user, api_key, body)
    except (ApplicationError, APIException) as exc:
        return drf_request, limits, exc


def _checked_call(user: User, api_key: Any, body: Any) -> GatewayCall:
    if not isinstance(body, dict):
        raise _bad("body", "Must be a JSON object.")
    unknown = sorted(set(body) - SUPPORTED - DROPPED)
    if unknown:
        raise ValidationError(
            f"Unsupported parameter(s): {', '.join(unknown)}. The gateway does not forward parameters it does not know.",
            details={name: ["Unsupported parameter."] for name in unknown},
        )
    dropped = sorted(set(body) & DROPPED)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("stream", "Must be a boolean.")
    options = body.get("stream_options")
    if options is not None and (not isinstance(options, dict) or set(options) - {"include_usage", "include_obfuscation"}):
        raise _bad("stream_options", "Only {include_usage} is supported.")
    if body.get("n") not in (None, 1):
        raise _bad("n", "Only n=1 is supported.")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    tools = body.get("tools")
    if body.get("tool_choice") == "none":
        tools = None
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model", "Required: a model name from /api/v1/openai/models.")
    prepared = chat_prepare(user=user, model=model, messages=body.get("messages"), temperature=body.get("temperature"),
                            max_tokens=max_tokens, tools=tools, api_key=api_key, origin="gateway")
    return GatewayCall(prepared=prepared, user=user, stream=stream, include_usage=bool((options or {}).get("include_usage")),
                       concurrent_limit=tier_policy(user).concurrent("chat"), dropped=dropped)


async def _begin(request: HttpRequest, body: Any) -> tuple[GatewayCall, concurrency_slot]:
    """Everything before the provider call, with no thread hop when the caches are warm: checks, limits, slot, credit hold.

    The checks run on the loop (in a thread when a cache is cold), the limits and the slot are one
    Redis script on the loop's client, and the hold one statement on the loop's own database
    connections. The slot comes before the hold, so a full set of slots holds nothing.
    """
    drf_request, limits, checked = await on_loop_or_thread(_check, request, body)
    if isinstance(checked, Exception):
        await aratelimit_hits(drf_request, limits)  # counted as any request is
        raise checked
    slot = concurrency_slot(user=checked.user, kind="chat", limit=checked.concurrent_limit)
    await slot.aenter_counting(drf_request, limits)  # the limits and the slot in one round trip
    try:
        checked.reservation = await acall_hold(user=checked.user, prepared=checked.prepared, origin="gateway")
    except BaseException:
        await slot.__aexit__(None, None, None)
        raise
    return checked, slot


def _usage_body(event_usage: Any) -> dict[str, Any]:
    return {
        "prompt_tokens": event_usage.prompt_tokens,
        "completion_tokens": event_usage.completion_tokens,
        "total_tokens": event_usage.total_tokens,
        "completion_tokens_details": {"reasoning_tokens": event_usage.reasoning_tokens},
    }


def _tool_call_body(event: LlmEvent, index: int) -> dict[str, Any]:
    return {"index": index, "id": event.tool_call_id, "type": "function",
            "function": {"name": event.tool_name, "arguments": json.dumps(event.args or {})}}


def completion_body(call: GatewayCall, completion: Completion) -> dict[str, Any]:
    """A `chat.completion` object."""
    message: dict[str, Any] = {"role": "assistant", "content": completion.text if completion.text or not completion.tool_calls else None}
    if completion.reasoning:
        message["reasoning_content"] = completion.reasoning
    if completion.tool_calls:
        message["tool_calls"] = [{k: v for k, v in _tool_call_body(e, i).items() if k != "index"} for i, e in enumerate(completion.tool_calls)]
    body: dict[str, Any] = {
        "id": f"chatcmpl-{call.prepared.request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": call.prepared.model.name,
        "choices": [{"index": 0, "message": message, "finish_reason": completion.finish_reason or "stop", "logprobs": None}],
    }
    if completion.usage is not None:
        body["usage"] = _usage_body(completion.usage)
    return body


async def _sse_frames(call: GatewayCall, first: LlmEvent, events: AsyncGenerator[LlmEvent, None], slot: concurrency_slot) -> AsyncGenerator[bytes, None]:
    """OpenAI `chat.completion.chunk` frames, `[DONE]` at the end; closing this closes the upstream."""
    head = (f'{{"id":"chatcmpl-{call.prepared.request_id}","object":"chat.completion.chunk","created":{int(time.time())},'
            f'"model":{json.dumps(call.prepared.model.name)},"choices":')

    def frame(choices: str, extra: str = "") -> bytes:
        return f"data: {head}{choices}{extra}}}\n\n".encode()

    def delta(payload: dict[str, Any], finish_reason: str | None = None) -> bytes:
        reason = json.dumps(finish_reason)
        return frame(f'[{{"index":0,"delta":{json.dumps(payload, separators=(",", ":"))},"finish_reason":{reason}}}]')

    tool_index = 0
    try:
        yield delta({"role": "assistant", "content": ""})
        event: LlmEvent | None = first
        while event is not None:
            if event.type == "text-delta":
                yield delta({"content": event.content})
            elif event.type == "reasoning-delta":
                yield delta({"reasoning_content": event.content})
            elif event.type == "tool-call":
                yield delta({"tool_calls": [_tool_call_body(event, tool_index)]})
                tool_index += 1
            elif event.type == "finish":
                call.finish = event
                yield delta({}, event.finish_reason or "stop")
                if call.include_usage and event.usage is not None:
                    yield frame("[]", ',"usage":' + json.dumps(_usage_body(event.usage), separators=(",", ":")))
                break
            event = await anext(events, None)
        yield b"data: [DONE]\n\n"
    except ApplicationError as exc:
        # Headers are gone: the error travels as an event, the way OpenAI reports a failed stream.
        error = {"error": {"message": exc.message, "type": ERROR_TYPES.get(exc.status_code, "api_error"), "param": None, "code": exc.code}}
        yield f"data: {json.dumps(error)}\n\n".encode()
    finally:
        await events.aclose()
        # Behind the stream's end, like the usage record: the client has its [DONE] already.
        await call_settle(reservation=call.reservation, prepared=call.prepared, finish=call.finish, wait=False)
        await slot.__aexit__(None, None, None)


async def chat_completions(request: HttpRequest) -> HttpResponseBase:
    """POST /api/v1/openai/chat/completions."""
    if request.method != "POST":
        return error_response(MethodNotAllowed())
    try:
        body = json_loads_bounded(request.body or b"null")
        call, slot = await _begin(request, body)
    except Exception as exc:
        return error_response(exc)  # ours, DRF's or an outage; anything else is raised again
    headers = {"X-Nexus-Dropped-Params": ",".join(call.dropped)} if call.dropped else {}
    if getattr(call.reservation, "capped", False):  # the balance lowered max_tokens (API.md, Conventions)
        headers["X-Nexus-Max-Tokens"] = str(call.reservation.max_tokens)
    if not call.stream:
        completion = None
        try:
            completion = await complete_prepared(call.prepared, write_behind=True)
        except ApplicationError as exc:
            return error_response(exc)
        finally:
            # Settled behind the answer (as its usage record is written): the client does not wait for the ledger.
            await call_settle(reservation=call.reservation, prepared=call.prepared, finish=completion, wait=False)
            await slot.__aexit__(None, None, None)
        response = JsonResponse(completion_body(call, completion))
        for name, value in headers.items():
            response[name] = value
        return response
    events = stream_prepared(call.prepared, write_behind=True)
    try:
        # Wait for the first event, so that a provider that is down still gets a proper status code.
        first = await anext(events)
    except ApplicationError as exc:
        await call_settle(reservation=call.reservation, prepared=call.prepared)
        await slot.__aexit__(None, None, None)
        return error_response(exc)
    except BaseException:
        await events.aclose()
        await call_settle(reservation=call.reservation, prepared=call.prepared)
        await slot.__aexit__(None, None, None)
        raise
    return sse_response(coalesced(_sse_frames(call, first, events, slot)), headers=headers)


async def models(request: HttpRequest) -> HttpResponseBase:
    """GET /api/v1/openai/models."""
    if request.method != "GET":
        return error_response(MethodNotAllowed())
    try:
        user, _key = await _aauthorize(request)
        entries = await on_loop_or_thread(model_list_for_user, user=user)
    except Exception as exc:
        return error_response(exc)  # ours, DRF's or an outage; anything else is raised again
    data = [{"id": entry.name, "object": "model", "created": 0, "owned_by": entry.provider_name} for entry in entries]
    return JsonResponse({"object": "list", "data": data})

