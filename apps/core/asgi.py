"""The HTTP side of the ASGI application: Django's handler, with each request's thread taken from a pool.

Under ASGI Django runs each request's sync code (sync views, DRF, the signals that close database
connections) in a thread of its own: `ThreadSensitiveContext` makes a new single-thread executor
per request and joins it at the end, a thread started and stopped per request (about a tenth of
the CPU of a keyed read in a profile). `PooledThreadASGIHandler` keeps the rule (a request's sync
code runs in one thread, which no other request uses meanwhile) but takes that thread from a pool
of idle ones and gives it back. The connection a request opened is closed by Django's
request_finished in that same thread, so no idle thread holds one between requests. A streamed
answer (a chat reply's SSE) gives its thread back as soon as the view returns: the stream is sent
from the event loop, and open streams hold no thread.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.cache import close_caches
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler, reset_urlconf
from django.core.signals import request_finished, request_started, setting_changed
from django.db import close_old_connections, reset_queries
from django.dispatch import Signal, receiver
from django.http import FileResponse, HttpRequest, HttpResponseBase
from django.urls import Resolver404, ResolverMatch, get_resolver, set_script_prefix, set_urlconf

from .db import db_serving_loop_mark, release_db_connections
from .loops import LoopLocal

__all__ = ["SESSION_MIDDLEWARE", "PooledThreadASGIHandler", "RequestThreads", "daphne_without_form_parsing", "flush_on_server_stop", "gc_settle", "lean_without_cookies"]

logger = logging.getLogger("nexus.asgi")

# The tasks serving HTTP requests right now (what a stopping server cancels and waits for).
_in_flight: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()


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


class CachedResolveMixin:
    """Resolve a request's path once per process (per urlconf), not once per request.

    Django walks the URL patterns for every request, and each app's `include()` it passes over adds
    to the list of patterns tried: about a twentieth of a gateway call's CPU. The resolved match
    of a path is the same for every request to it, so it is kept (a bounded LRU); each request gets
    its own copy, as middleware may change a match's kwargs.
    """

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        """As `BaseHandler.resolve_request`, from the cache."""
        urlconf = getattr(request, "urlconf", None)
        if urlconf is not None:
            set_urlconf(urlconf)
        cached = _resolve(urlconf or settings.ROOT_URLCONF, request.path_info)
        match = ResolverMatch.__new__(ResolverMatch)  # ResolverMatch refuses copy.copy (it refuses pickling)
        match.__dict__.update(cached.__dict__, kwargs=dict(cached.kwargs))
        request.resolver_match = match
        return match


class _SyncHandler(CachedResolveMixin, BaseHandler):
    """The sync middleware chain of `PooledThreadASGIHandler`."""


class _CookielessHandler(CachedResolveMixin, BaseHandler):
    """The async middleware chain for a lean view called without cookies: every middleware but `SESSION_MIDDLEWARE`."""


@contextlib.contextmanager
def _middleware_on_loop(paths: list[str]) -> Iterator[None]:
    """`settings.MIDDLEWARE` set to `paths`, with `loop_middleware.ON_LOOP`'s classes in place of Django's, while a chain loads."""
    from .loop_middleware import ON_LOOP

    configured = settings.MIDDLEWARE
    # Read by BaseHandler.load_middleware only; set back at once (chains load once, at startup).
    settings.MIDDLEWARE = [ON_LOOP.get(path, path) for path in paths]
    try:
        yield
    finally:
        settings.MIDDLEWARE = configured


# The middleware that serve a browser's session: its cookie, the user it holds, the CSRF token
# that guards it, the flash messages kept in it, and allauth's account pages. For a request that
# carries no cookie and a view that reads none of these, they only build lazy objects nobody reads
# and wrap the view in five more layers: about 0.17 ms of a gateway call's 3.2 ms at 50 in flight.
SESSION_MIDDLEWARE = frozenset({
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
})

LEAN_WITHOUT_COOKIES = "lean_without_cookies"

V = TypeVar("V", bound=Callable[..., Any])


def lean_without_cookies(view: V) -> V:
    """Mark an async API view that reads nothing of the browser session: called without cookies, it skips `SESSION_MIDDLEWARE`.

    Such a view reads no `request.user`, `request.session`, message or CSRF token of Django's (DRF's
    authenticators read the request's own headers). Every other middleware still runs: request id,
    error envelope, security headers, rate-limit headers. A request with cookies takes the whole
    chain, so session authentication and its CSRF check work as on every other route.
    """
    setattr(view, LEAN_WITHOUT_COOKIES, True)
    return view


class PooledThreadASGIHandler(CachedResolveMixin, ASGIHandler):
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
        # At most ASGI_SYNC_VIEWS_MAX sync views run at once per loop (0: no bound); the requests beyond
        # wait on the loop, holding no thread (256 threads of keyed reads at once only fought over the
        # GIL). A view still running after ASGI_SYNC_VIEWS_GRACE_MS gives its place back while it goes
        # on: views that wait seconds on a provider or an agent (compare, voice, A2A message/send)
        # must not hold the bound and stall every short request of the process.
        bound = settings.ASGI_SYNC_VIEWS_MAX
        self._sync_views: LoopLocal[asyncio.Semaphore | None] = LoopLocal(lambda: asyncio.Semaphore(bound) if bound > 0 else None)
        self._sync_view_grace = settings.ASGI_SYNC_VIEWS_GRACE_MS / 1000
        self.sync_handler = _SyncHandler()
        self.sync_handler.load_middleware(is_async=False)
        self.cookieless = _CookielessHandler()
        with _middleware_on_loop([path for path in settings.MIDDLEWARE if path not in SESSION_MIDDLEWARE]):
            self.cookieless.load_middleware(is_async=True)

    def load_middleware(self, is_async: bool = False) -> None:
        """The async chain (async views) with Django's sync-only middleware replaced by `loop_middleware.ON_LOOP`."""
        if not is_async:
            super().load_middleware(is_async=is_async)
            return
        with _middleware_on_loop(settings.MIDDLEWARE):
            super().load_middleware(is_async=True)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        db_serving_loop_mark()  # this loop may hold the process's async database pool
        task = asyncio.current_task()
        if task is not None:
            _in_flight.add(task)
        try:
            await self.handle(scope, receive, send)
        finally:
            _in_flight.discard(task)  # type: ignore[arg-type]  # None is never in it

    @contextlib.asynccontextmanager
    async def request_thread(self) -> AsyncIterator[None]:
        """The thread the enclosed thread-sensitive calls run in, the request's alone until the block ends."""
        executor = self.threads.acquire()
        try:
            async with ThreadSensitiveContext(executor=executor):
                yield
        finally:
            # Nothing of this request runs in the thread any more: the next request may have it.
            self.threads.release(executor)

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Serve a sync view's request in one thread hop; an async view's on the loop."""
        kind = self._view_kind(scope)
        if kind != _SYNC:
            async with self.request_thread():
                await self._handle_async_view(scope, receive, send, lean=kind == _LEAN)
            return
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:  # the client left before its body arrived
            return
        set_script_prefix(get_script_prefix(scope))
        try:
            response = await self._bounded_respond(scope, body_file)
            if not response.streaming:
                await self.send_response(response, send)
                return
            # A streamed response (a chat reply's SSE) is sent from the loop, for minutes maybe: its
            # thread went back to the pool with the view's return, not one thread per open stream.
            try:
                await self._stream(response, receive, send)
            finally:  # its content was produced while sending: closed after it
                await self._close_response(response)
        finally:
            body_file.close()

    async def _bounded_respond(self, scope: dict[str, Any], body_file: Any) -> HttpResponseBase:
        """`_respond` in a request thread, once the sync-view bound has a place for it."""
        give_back = await self._sync_view_place()
        try:
            async with self.request_thread():
                return await sync_to_async(self._respond, thread_sensitive=True)(scope, body_file)
        finally:
            give_back()

    async def _sync_view_place(self) -> Callable[[], None]:
        """Wait for a place under the bound; returns how to give it back (once), which the grace period's timer also does."""
        gate = self._sync_views.get()
        if gate is None:
            return lambda: None
        await gate.acquire()
        held = True

        def give_back() -> None:
            nonlocal held
            if held:
                held = False
                slow.cancel()
                gate.release()

        # A timer, not a task racing the view: the view is awaited as without a bound.
        slow = asyncio.get_running_loop().call_later(self._sync_view_grace, give_back)
        return give_back

    async def _handle_async_view(self, scope: dict[str, Any], receive: Any, send: Any, *, lean: bool = False) -> None:
        """Django's `ASGIHandler.handle` for an async view, with the view run in the request's own task.

        Django runs the view in a second task and waits on it and on a task listening for the
        client's disconnect together (`asyncio.wait`). Here the view runs in this task and the
        listener cancels it when the client leaves: one task and one wait set fewer per request.
        The request signals are sent on the loop while only Django's own receivers listen
        (`_send_signal`). A Django upgrade compares this with `ASGIHandler.handle` step by step.
        """
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        await _send_signal(request_started, self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            assert error_response is not None
            await self.send_response(error_response, send)
            await self._close_response(error_response)
            return
        chain = self.cookieless if lean and not _has_cookie(scope) else self
        task = asyncio.current_task()
        assert task is not None  # ASGI servers run each request in a task
        left: list[bool] = []
        listener = asyncio.create_task(self._cancel_when_client_leaves(receive, task, left))
        response: HttpResponseBase | None = None
        try:
            response = await self.run_get_response(request, chain)
            await self.send_response(response, send)
        except asyncio.CancelledError:
            if not left:
                # The server is stopping (daphne cancels its requests). The cancel went through the
                # view, whose cleanup has run (a gateway stream records and settles what it produced).
                raise
            task.uncancel()  # the client left, as Django: the request ends without an answer
        finally:
            listener.cancel()
            body_file.close()
        if response is None:  # the client left before the view answered
            await _send_signal(request_finished, self.__class__)
        else:
            await self._close_response(response)

    async def _cancel_when_client_leaves(self, receive: Any, task: asyncio.Task[Any], left: list[bool]) -> None:
        """Cancel the request's task when the client disconnects (Django's listener raises an error there instead)."""
        try:
            await self.listen_for_disconnect(receive)
        except RequestAborted:
            left.append(True)
            task.cancel()

    async def _close_response(self, response: HttpResponseBase) -> None:
        """Close a response (request_finished): on the loop while only Django's own receivers listen."""
        # Django adds the request's own close (its body's buffer) to the response's closers; anything
        # else (a file being served) is closed in a thread, as Django does.
        closers = getattr(response, "_resource_closers", ())
        others = any(not isinstance(getattr(closer, "__self__", None), HttpRequest) for closer in closers)
        if others or _loop_safe(request_finished, getattr(response, "_handler_class", None)) is None:
            async with self.request_thread():
                await sync_to_async(response.close, thread_sensitive=True)()
            return
        response.close()

    async def run_get_response(self, request: HttpRequest, chain: BaseHandler | None = None) -> HttpResponseBase:
        """As Django's, through `chain`'s middleware (this handler's by default); its response is marked with this handler."""
        response = await (chain or self).get_response_async(request)
        response._handler_class = self.__class__  # type: ignore[attr-defined]  # as Django's handlers mark it
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        return response

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
        else:
            release_db_connections()  # the thread goes back to the pool before the stream ends
        return response

    def _view_kind(self, scope: dict[str, Any]) -> str:
        """What the path resolves to: a sync view (or none: the 404 page is rendered in sync), an async one, or a lean one."""
        path = scope.get("path") or "/"
        root = scope.get("root_path") or ""
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        return _view_kind(settings.ROOT_URLCONF, path)


# Django's own receivers of the request signals: they reset per-thread state (queries logged in
# DEBUG, stale database connections of the thread, cache connections, the thread's urlconf).
_LOOP_SAFE_RECEIVERS = frozenset({reset_queries, close_old_connections, close_caches, reset_urlconf})


def _loop_safe(signal: Signal, sender: type | None) -> list[Any] | None:
    """The signal's receivers when all of them may run on the loop, else None."""
    sync_receivers, async_receivers = signal._live_receivers(sender)  # Django's own listing (5.0+)
    if async_receivers or any(getattr(r, "__func__", r) not in _LOOP_SAFE_RECEIVERS for r in sync_receivers):
        return None
    return list(sync_receivers)


async def _send_signal(signal: Signal, sender: type, **named: Any) -> None:
    receivers = _loop_safe(signal, sender)
    if receivers is None:
        await signal.asend(sender=sender, **named)
        return
    for receiver_ in receivers:
        receiver_(signal=signal, sender=sender, **named)


@functools.lru_cache(maxsize=4096)
def _resolve(urlconf: str, path: str) -> ResolverMatch:
    # A path that resolves to nothing raises each time (exceptions are not cached).
    return get_resolver(urlconf).resolve(path)


@receiver(setting_changed)
def _urlconf_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "ROOT_URLCONF":  # tests that swap urlconfs
        _resolve.cache_clear()
        _view_kind.cache_clear()


_SYNC, _ASYNC, _LEAN = "sync", "async", "lean"


@functools.lru_cache(maxsize=4096)
def _view_kind(urlconf: str, path: str) -> str:
    # Cached per path: resolving twice per request (here, then in Django) was 4 % of a gateway call.
    try:
        match = get_resolver(urlconf).resolve(path)
    except Resolver404:
        return _SYNC
    if not iscoroutinefunction(match.func):
        return _SYNC
    return _LEAN if getattr(match.func, LEAN_WITHOUT_COOKIES, False) else _ASYNC


def _has_cookie(scope: dict[str, Any]) -> bool:
    return any(name == b"cookie" for name, _value in scope["headers"])


def flush_on_server_stop(*flushes: Callable[[], Awaitable[None]]) -> None:
    """Have daphne await `flushes` (in order) when it stops, once the requests it cancels have cleaned up.

    On SIGTERM or SIGINT daphne cancels the requests in flight and waits for them ("before" phase
    of Twisted's shutdown) before the event loop stops. A cancelled gateway stream queues its
    usage record and starts its settlement as it closes: the flushes (`config.asgi` names them)
    wait for those writes, so a restart loses no charge of a call it cut.
    """
    if "twisted.internet.reactor" not in sys.modules:  # not under daphne (tests, workers, other servers)
        return
    from twisted.internet import defer, reactor

    async def flush_all() -> None:
        await asyncio.sleep(0)  # daphne's own trigger, called right after this one, cancels the requests
        current = asyncio.current_task()
        await asyncio.gather(*(task for task in list(_in_flight) if task is not current), return_exceptions=True)
        for flush in flushes:
            try:
                await flush()
            except Exception:
                logger.exception("Flushing at shutdown failed")

    def on_stop() -> defer.Deferred[None]:
        return defer.Deferred.fromFuture(asyncio.ensure_future(flush_all()))

    # "before", as daphne's: Twisted's "during" phase stops the event loop first.
    reactor.addSystemEventTrigger("before", "shutdown", on_stop)  # type: ignore[arg-type]  # zope interface stubs count self


def daphne_without_form_parsing() -> None:
    """Under daphne, have Twisted hand over request bodies without parsing forms out of them first.

    Twisted's `http.Request` parses every POST's Content-Type (through the `email` package) and,
    for a form or a multipart upload, the whole body into `request.args`, which daphne never reads:
    the body goes to Django as bytes, and Django parses it again. That was 2-3 % of a gateway
    call's CPU, and for an upload a second copy of the file in memory until the request ended.
    Twisted's own switch for it is the `parsePOSTFormSubmission` argument, which daphne does not
    pass; its request class is given it here.
    """
    module: Any = sys.modules.get("daphne.http_protocol")
    if module is None or getattr(module.WebRequest, "parses_forms", True) is False:  # not under daphne, or done
        return
    base = module.WebRequest

    class WebRequest(base):  # type: ignore[misc, valid-type]  # daphne's class, found at run time
        """daphne's request, without Twisted's form parsing."""

        parses_forms = False

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("parsePOSTFormSubmission", False)
            super().__init__(*args, **kwargs)

    module.WebRequest = WebRequest


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
