"""The OpenAI adapter's stream: its SSE body split a read at a time, read to the end, errors as the SDK raises them."""
from __future__ import annotations

import gc
import sys
from typing import Any

import openai
import pytest
from asgiref.sync import sync_to_async

from apps.llm import client
from apps.llm.errors import ProviderUnavailable
from apps.llm.providers.openai import _chunk, _sse_split
from tests.factories import UserFactory
from tests.fakes.llm_server import DEFAULT_REPLY

from .conftest import FakeModels


def test_frames_are_split_on_blank_lines_and_the_rest_waits_for_the_next_read() -> None:
    frames, rest = _sse_split(b'data: {"a":1}\n\ndata: {"b":2}\n\ndata: {"c"')
    assert frames == [b'{"a":1}', b'{"b":2}'] and rest == b'data: {"c"'
    frames, rest = _sse_split(rest + b':3}\n\n')
    assert frames == [b'{"c":3}'] and rest == b""


def test_sse_fields_follow_the_spec() -> None:
    # CRLF line ends, comments, other fields, a data line without its space, data on two lines.
    body = b': keep-alive\r\n\r\nevent: delta\r\nid: 7\r\ndata: {"a":1}\r\n\r\ndata:[DONE]\n\ndata: first\ndata: second\n\n'
    frames, rest = _sse_split(body)
    assert frames == [b'{"a":1}', b"[DONE]", b"first\nsecond"] and rest == b""


def test_a_crlf_split_between_two_reads_is_one_line_end() -> None:
    # `data: a` CR | LF `data: b` CRLF CRLF: one frame of two data lines, not two frames.
    frames, rest = _sse_split(b"data: a\r")
    assert frames == [] and rest == b"data: a\r"
    frames, rest = _sse_split(rest + b"\ndata: b\r\n\r\n")
    assert frames == [b"a\nb"] and rest == b""


def test_a_chunk_carrying_an_error_raises_the_sdks_error() -> None:
    request = openai._base_client.httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")  # what the SDK attaches

    class Response:
        pass

    response = Response()
    response.request = request  # type: ignore[attr-defined]
    with pytest.raises(openai.APIError, match="the model is overloaded"):
        _chunk(b'{"error": {"message": "the model is overloaded", "type": "server_error"}}', response)
    with pytest.raises(ValueError):
        _chunk(b'{"broken": ', response)
    assert _chunk(b'{"choices": []}', response) == {"choices": []}


@pytest.mark.django_db(transaction=True)
async def test_a_finished_stream_leaves_no_generator_for_the_loop_to_close(fake_models: FakeModels, fake_llm: Any) -> None:
    # The SDK's own stream left its SSE and body generators open after [DONE]; the loop closed each
    # with a thread-safe wake-up and a task (a tenth of a gateway stream's CPU).
    user = await sync_to_async(UserFactory)()
    finalized: list[Any] = []
    hooks = sys.get_asyncgen_hooks()

    def finalizer(generator: Any) -> None:
        finalized.append(getattr(generator, "__qualname__", generator))
        hooks.finalizer(generator)  # type: ignore[misc]  # the loop's own, set while it runs

    sys.set_asyncgen_hooks(firstiter=hooks.firstiter, finalizer=finalizer)
    try:
        for _ in range(3):
            events = [event async for event in client.stream_chat(user=user, model="fake-openai", messages=[{"role": "user", "content": "Hi"}])]
            assert "".join(e.content for e in events if e.type == "text-delta") == DEFAULT_REPLY
        gc.collect()
    finally:
        sys.set_asyncgen_hooks(*hooks)
    assert finalized == []


@pytest.mark.django_db(transaction=True)
async def test_a_frame_that_is_not_json_fails_the_stream(fake_models: FakeModels, fake_llm: Any) -> None:
    user = await sync_to_async(UserFactory)()
    with pytest.raises(ProviderUnavailable):
        async for _event in client.stream_chat(user=user, model="fake-openai", messages=[{"role": "user", "content": "#words=20 #malformed-after=2"}]):
            pass
