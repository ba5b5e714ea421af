"""core.sse.coalesced: frames ready together are one write, none waits for more, and closing it closes the producer."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from apps.core.sse import coalesced


async def test_frames_ready_together_are_one_write_and_a_frame_alone_is_not_held_back() -> None:
    gate = asyncio.get_running_loop().create_future()

    async def frames() -> AsyncGenerator[bytes, None]:
        yield b"a"
        yield b"b"  # a provider's read that brought three events
        yield b"c"
        await gate  # the next read
        yield b"d"

    stream = coalesced(frames())
    assert await anext(stream) == b"a"  # the first frame goes out at once (time to first token)
    assert await anext(stream) == b"bc"
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    assert not waiting.done()  # nothing is sent before the provider sends it
    gate.set_result(None)
    assert await waiting == b"d"
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_closing_it_closes_the_producer_where_it_waits_and_waits_for_its_cleanup() -> None:
    # A client that leaves mid-stream: the gateway's frames close their upstream and settle the call.
    cleaned: list[str] = []

    async def frames() -> AsyncGenerator[bytes, None]:
        try:
            yield b"first"
            await asyncio.Event().wait()  # a provider that goes quiet
            yield b"never"
        finally:
            await asyncio.sleep(0)  # cleanup that awaits (a settlement)
            cleaned.append("closed")

    stream = coalesced(frames())
    assert await anext(stream) == b"first"
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.01)
    pending.cancel()  # the response's task is cancelled while it waits
    with pytest.raises(asyncio.CancelledError):
        await pending
    assert cleaned == ["closed"]


async def test_a_producer_closed_before_its_task_ever_ran_still_cleans_up() -> None:
    cleaned: list[str] = []

    async def frames() -> AsyncGenerator[bytes, None]:
        try:
            yield b"first"
            yield b"second"
        finally:
            cleaned.append("closed")

    stream = coalesced(frames())
    assert await anext(stream) == b"first"
    await stream.aclose()  # at once: the producer's task has not had a turn yet
    assert cleaned == ["closed"]


async def test_a_producer_failure_ends_the_stream_with_it_after_the_frames_before() -> None:
    async def frames() -> AsyncGenerator[bytes, None]:
        yield b"one"
        await asyncio.sleep(0)
        raise RuntimeError("the producer broke")

    stream = coalesced(frames())
    assert await anext(stream) == b"one"
    with pytest.raises(RuntimeError, match="the producer broke"):
        await anext(stream)
