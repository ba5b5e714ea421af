"""The Redis channel layer: a consumer waiting longer than one blocking pop keeps waiting (no read timeout)."""
from __future__ import annotations

import asyncio

from asgiref.sync import async_to_sync
from channels.layers import channel_layers, get_channel_layer


def test_an_idle_receive_outlasts_the_blocking_pop_and_gets_the_next_message() -> None:
    # Regression: redis-py's async pools read with a 5 s socket timeout by default, the layer's blocking
    # pop waits up to 5 s too, so a consumer idle for a few seconds died with a read timeout (closed 1011).
    channel_layers.backends.clear()

    async def scenario() -> dict:  # type: ignore[type-arg]
        layer = get_channel_layer()
        assert layer is not None
        channel = await layer.new_channel()
        await layer.group_add("idle-test", channel)

        async def later() -> None:
            await asyncio.sleep(7)  # more than one blocking pop (5 s) and the default read timeout (5 s)
            await layer.group_send("idle-test", {"type": "note", "text": "still here"})

        sender = asyncio.ensure_future(later())
        message = await layer.receive(channel)
        await sender
        await layer.group_discard("idle-test", channel)
        return message  # type: ignore[no-any-return]

    assert async_to_sync(scenario)() == {"type": "note", "text": "still here"}
