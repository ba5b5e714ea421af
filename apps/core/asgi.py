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

import asyncio
import functools
import gc
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import HttpResponseBase
from django.urls import Resolver404, get_resolver, set_script_prefix

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
    """Django's ASGIHandler, with each request's sync thread taken from `RequestThreads`.

    A request for a sync view (DRF's views, the pages) runs in ONE thread hop: the request_started
    signal, the whole middleware chain in its sync form, the view, and, for a response that is not
    streamed, its close (request_finished, which hands the database connection back). Django's
    async path hops to the thread for each sync-only middleware method in turn (`MiddlewareMixin`:
    process_request, process_view, process_response of sessions, CSRF, messages...), about fifteen
    hops per request, which were most of a keyed read's CPU. Async views (SSE, the gateway) keep
    Django's async path, with those middleware run on the loop (`core.loop_middleware`).
    """

    def __init__(self) -> None:
        super().__init__()
        self.threads = RequestThreads(keep=settings.ASGI_REQUEST_THREADS)
        self.sync_handler = BaseHandler()
        self.sync_handler.load_middleware(is_async=False)

    def load_middleware(self, is_async: bool = False) -> None:
        """The async chain (async views) with Django's sync-only middleware replaced by `loop_middleware.ON_LOOP`."""
        if not is_async:
            super().load_middleware(is_async=is_async)
            return
        from .loop_middleware import ON_LOOP

        configured = settings.MIDDLEWARE
        # Read by BaseHandler.load_middleware only; set back at once (this runs once, at startup).
        settings.MIDDLEWARE = [ON_LOOP.get(path, path) for path in configured]
        try:
            super().load_middleware(is_async=True)
        finally:
            settings.MIDDLEWARE = configured

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

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Serve a sync view's request in one thread hop; anything else as Django does."""
        if not self._sync_view(scope):
            await super().handle(scope, receive, send)
            return
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:  # the client left before its body arrived
            return
        set_script_prefix(get_script_prefix(scope))
        try:
            response = await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
            if not response.streaming:
                await self.send_response(response, send)
                return
            try:
                await self._stream(response, receive, send)
            finally:  # its content was produced while sending: closed after it
                await sync_to_async(response.close, thread_sensitive=True)()
        finally:
            body_file.close()

    async def _stream(self, response: HttpResponseBase, receive: Any, send: Any) -> None:
        """Send a streamed response until it ends or the client goes away (which stops its iterator), as Django does."""
        listener = asyncio.create_task(self.listen_for_disconnect(receive))
        sender = asyncio.create_task(self.send_response(response, send))
        try:
            await asyncio.wait({listener, sender}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (listener, sender):
                if not task.done():
                    task.cancel()
            await asyncio.gather(listener, sender, return_exceptions=True)
        if sender.done() and not sender.cancelled() and sender.exception() is not None:
            raise sender.exception()  # type: ignore[misc]  # a failure while streaming, as Django re-raises it

    def _respond(self, scope: dict[str, Any], body_file: Any) -> HttpResponseBase:
        """In the request's thread: request_started, the sync middleware chain and the view."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:  # an undecodable path or an oversize body: Django's own answer
            assert error_response is not None
            response = error_response
        else:
            response = self.sync_handler.get_response(request)
        response._handler_class = self.__class__  # type: ignore[attr-defined]  # as Django's handlers mark it
        if not response.streaming:
            response.close()  # the body is complete: request_finished runs here, in this thread
        return response

    def _sync_view(self, scope: dict[str, Any]) -> bool:
        """True when the path resolves to a sync view (or to none: the 404 page is rendered in sync)."""
        path = scope.get("path") or "/"
        root = scope.get("root_path") or ""
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        return _resolves_to_sync(settings.ROOT_URLCONF, path)


@functools.lru_cache(maxsize=4096)
def _resolves_to_sync(urlconf: str, path: str) -> bool:
    # Cached per path: resolving twice per request (here, then in Django) was 4 % of a gateway call.
    try:
        match = get_resolver(urlconf).resolve(path)
    except Resolver404:
        return True
    return not iscoroutinefunction(match.func)


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
