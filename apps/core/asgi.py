"""The HTTP side of the ASGI application: Django's handler, with each request's thread taken from a pool.

Under ASGI Django runs each request's sync code (sync views, DRF, the signals that close database
connections) in a thread of its own: `ThreadSensitiveContext` makes a new single-thread executor
per request and joins it at the end, a thread started and stopped per request (about a tenth of
the CPU of a keyed read in a profile). `PooledThreadASGIHandler` keeps the rule (a request's sync
code runs in one thread, which no other request uses meanwhile) but takes that thread from a pool
of idle ones and gives it back. The connection a request opened is closed by Django's
request_finished in that same thread, so no idle thread holds one between requests.
"""
from __future__ import annotations

import gc
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

__all__ = ["PooledThreadASGIHandler", "RequestThreads", "gc_settle"]


class RequestThreads:
    """Idle single-thread executors, each handed to one request at a time (at most `keep` kept idle)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._idle: list[ThreadPoolExecutor] = []
        self._lock = threading.Lock()
        self.created = 0

    def acquire(self) -> ThreadPoolExecutor:
        """An idle executor, or a new one when every pooled one is in use."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
            self.created += 1
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def release(self, executor: ThreadPoolExecutor) -> None:
        """Give an executor back; beyond `keep` idle ones it is shut down (without waiting)."""
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(executor)
                return
        executor.shutdown(wait=False)


class PooledThreadASGIHandler(ASGIHandler):
    """Django's ASGIHandler, with each request's sync thread taken from `RequestThreads`."""

    def __init__(self) -> None:
        super().__init__()
        self.threads = RequestThreads(keep=settings.ASGI_REQUEST_THREADS)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self.threads.acquire()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            # handle() returns after the response was sent and request_finished ran: nothing of
            # this request runs in the thread any more, so the next request may have it.
            self.threads.release(executor)


def gc_settle() -> None:
    """Take the loaded application out of the garbage collector's work, once, before serving.

    A web process holds about 400 000 objects once Django, DRF and the SDKs are imported; each full
    collection walked all of them while every stream of the process waited (200-400 ms pauses,
    the worst gaps of 500 streaming chat replies). `gc.freeze()` moves them to a generation that is
    never collected (they live as long as the process anyway), and a larger first threshold makes
    the young collections, and the promotions that lead to full ones, rarer.
    """
    if settings.GC_FREEZE_AT_START:
        gc.collect()
        gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, settings.GC_THRESHOLD_YOUNG), middle, old)
