"""The one server shell of the aiohttp fakes: an application served from a daemon thread with its own loop."""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Self

from aiohttp import web


class ThreadedAiohttpServer:
    """Serve `self.app()` on `host:port` (0: a free port, read back into `port`) in a daemon thread.

    Subclasses set `host` and `port` and build their routes in `app()`; `start()` returns once the
    socket listens, `stop()` closes it and ends the thread. Also a context manager.
    """

    thread_name = "fake-server"
    backlog = 128
    runner_options: dict[str, Any] = {}
    host: str
    port: int
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    def app(self) -> web.Application:
        """The aiohttp application (subclasses)."""
        raise NotImplementedError

    async def _start(self) -> None:
        """Listen on the running loop (also what a standalone `asyncio.run` of the fake awaits)."""
        self._runner = web.AppRunner(self.app(), access_log=None, **self.runner_options)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=self.backlog)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def start(self) -> Self:
        """Serve in a daemon thread; returns once listening."""
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=self.thread_name, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{self.thread_name} did not start")
        return self

    def stop(self) -> None:
        """Close the server and end its thread."""
        loop, runner = self._loop, self._runner
        if loop is None or runner is None:
            return
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
