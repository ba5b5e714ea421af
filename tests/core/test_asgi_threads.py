"""apps.core.asgi: a request's sync code runs in a thread of its own, taken from a pool and given back."""
from __future__ import annotations

import asyncio
import json
from typing import Any

from asgiref.testing import ApplicationCommunicator

from apps.core.asgi import PooledThreadASGIHandler, RequestThreads


def test_threads_are_reused_and_the_idle_ones_bounded() -> None:
    threads = RequestThreads(keep=2)
    first, second, third = threads.acquire(), threads.acquire(), threads.acquire()
    assert len({id(first), id(second), id(third)}) == 3  # three requests at once: three threads
    for executor in (first, second, third):
        threads.release(executor)
    assert third._shutdown  # beyond `keep` idle ones, an executor is let go
    assert {id(threads.acquire()), id(threads.acquire())} == {id(first), id(second)}
    assert threads.created == 3


def _scope(path: str, *, method: str = "GET", query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    """An HTTP request's ASGI scope, as daphne builds it."""
    return {"type": "http", "method": method, "path": path, "query_string": query, "headers": [(b"host", b"localhost"), *(headers or [])],
            "client": ("127.0.0.1", 1), "server": ("localhost", 80), "scheme": "http", "http_version": "1.1", "asgi": {"version": "3.0"}}


async def _get(app: PooledThreadASGIHandler, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> int:
    return (await _answer(app, "GET", path, headers or []))[0]


async def test_sequential_requests_run_their_sync_code_in_one_pooled_thread(settings, transactional_db) -> None:  # type: ignore[no-untyped-def]
    app = PooledThreadASGIHandler()
    statuses = [await _get(app, "/api/v1/users/me") for _ in range(20)]
    assert statuses == [401] * 20  # a sync DRF view, answered each time
    assert app.threads.created == 1  # one thread served all twenty, none started per request


def _counting_app() -> tuple[PooledThreadASGIHandler, list[object]]:
    """The web process's HTTP app, recording each call handed to a request's own thread."""
    app = PooledThreadASGIHandler()
    submitted: list[object] = []
    acquire = app.threads.acquire

    def counting_acquire():  # type: ignore[no-untyped-def]
        executor = acquire()
        if getattr(executor.submit, "counting", False):  # a pooled executor, already counted
            return executor
        submit = executor.submit

        def counted(fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            submitted.append(fn)
            return submit(fn, *args, **kwargs)

        counted.counting = True  # type: ignore[attr-defined]
        executor.submit = counted  # type: ignore[method-assign]
        return executor

    app.threads.acquire = counting_acquire  # type: ignore[method-assign]
    return app, submitted


async def test_a_sync_view_is_served_in_one_thread_hop(settings, transactional_db) -> None:  # type: ignore[no-untyped-def]
    """A keyed read: request_started, every middleware, the view and request_finished run in one hop to the thread.

    Django's async path hopped once per sync middleware method (sessions, CSRF, messages...): about
    fifteen thread hand-offs per request, most of a keyed read's CPU.
    """
    from asgiref.sync import sync_to_async
    from django.db import connections

    from apps.accounts.seeds import seed
    from apps.accounts.services import api_key_create
    from tests.factories import UserFactory

    await sync_to_async(seed)()  # an earlier transactional test may have flushed the seeded tiers
    user = await sync_to_async(UserFactory)()
    _key, raw = await sync_to_async(api_key_create)(user=user, name="hops", scopes=["*"])
    app, submitted = _counting_app()
    assert await _get(app, "/api/v1/users/me", [(b"authorization", f"Bearer {raw}".encode())]) == 200
    assert len(submitted) == 1
    assert await _get(app, "/api/v1/no-such-route") == 404  # the 404 page is rendered in the same single hop
    assert len(submitted) == 2
    # request_finished ran in the request's thread: no connection is left open there for good.
    executor = app.threads.acquire()  # the pooled thread both requests ran in
    try:
        assert executor.submit(lambda: all(c.connection is None for c in connections.all(initialized_only=True))).result(10)
    finally:
        app.threads.release(executor)


async def test_an_async_view_runs_django_s_middleware_on_the_loop(settings, transactional_db) -> None:  # type: ignore[no-untyped-def]
    """The gateway's model list (an async view): sessions, CSRF, auth, messages... cost no hop to the request's thread.

    Django's async path ran each of their hooks through sync_to_async: about twelve hops per request.
    """
    from asgiref.sync import sync_to_async

    from apps.accounts.seeds import seed
    from apps.accounts.services import api_key_create
    from tests.factories import UserFactory

    await sync_to_async(seed)()
    user = await sync_to_async(UserFactory)()
    _key, raw = await sync_to_async(api_key_create)(user=user, name="loop", scopes=["*"])
    app, submitted = _counting_app()
    assert await _get(app, "/api/v1/openai/models", [(b"authorization", f"Bearer {raw}".encode())]) == 200
    # Not even request_started / request_finished: Django's own receivers run on the loop.
    assert submitted == []


async def test_a_request_signal_receiver_of_our_own_still_runs_in_the_request_thread(settings, transactional_db) -> None:  # type: ignore[no-untyped-def]
    """Only Django's own receivers run on the loop; any other sync receiver gets Django's thread hop."""
    import threading

    from django.core.signals import request_finished, request_started

    loop_thread = threading.get_ident()
    seen: list[tuple[str, bool]] = []

    def started(**kwargs):  # type: ignore[no-untyped-def]
        seen.append(("started", threading.get_ident() == loop_thread))

    def finished(**kwargs):  # type: ignore[no-untyped-def]
        seen.append(("finished", threading.get_ident() == loop_thread))

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        app, submitted = _counting_app()
        assert await _get(app, "/api/v1/openai/models") == 401
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
    assert seen == [("started", False), ("finished", False)]  # both off the event loop
    assert len(submitted) == 2


async def test_a_path_is_resolved_once_and_each_request_gets_its_own_match(settings, transactional_db) -> None:  # type: ignore[no-untyped-def]
    from django.test import RequestFactory

    from apps.core.asgi import _resolve

    app = PooledThreadASGIHandler()
    _resolve.cache_clear()
    for _ in range(3):
        assert await _get(app, "/api/v1/openai/models") == 401
    info = _resolve.cache_info()
    assert (info.misses, info.hits) == (1, 2)
    first = app.resolve_request(RequestFactory().get("/api/v1/workflows/7b0c0f8e-0000-4000-8000-000000000001"))
    first.kwargs["changed"] = True  # a middleware may change the kwargs of its request's match
    second = app.resolve_request(RequestFactory().get("/api/v1/workflows/7b0c0f8e-0000-4000-8000-000000000001"))
    assert "changed" not in second.kwargs and second.url_name == first.url_name


async def test_a_session_changed_by_an_async_view_is_still_saved(transactional_db) -> None:  # type: ignore[no-untyped-def]
    """The on-loop SessionMiddleware hands a modified session's save to a thread, and it lands."""
    from asgiref.sync import sync_to_async
    from django.contrib.sessions.models import Session
    from django.http import HttpResponse
    from django.test import RequestFactory

    from apps.core.loop_middleware import SessionMiddleware

    async def view(request):  # type: ignore[no-untyped-def]
        await request.session.aset("seen", "yes")
        return HttpResponse("ok")

    middleware = SessionMiddleware(view)
    response = await middleware(RequestFactory().get("/"))
    key = response.cookies["sessionid"].value
    session = await sync_to_async(Session.objects.get)(session_key=key)
    assert session.get_decoded() == {"seen": "yes"}


async def test_a_sync_view_s_stream_stops_when_the_client_goes_away(settings) -> None:  # type: ignore[no-untyped-def]
    """A streamed answer of a sync view runs until the client disconnects, then its iterator is stopped (nothing leaks)."""
    from tests import urls

    settings.ROOT_URLCONF = "tests.urls"
    urls.ENDLESS_STREAM_EVENTS.clear()
    scope = _scope("/api/v1/_test/endless")
    communicator = ApplicationCommunicator(PooledThreadASGIHandler(), scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    assert (await communicator.receive_output(10))["status"] == 200
    assert (await communicator.receive_output(10))["body"] == b"data: tick\n\n"
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(10)  # the application returns once the stream is stopped
    await asyncio.sleep(0)
    assert urls.ENDLESS_STREAM_EVENTS == ["started", "stopped"]


async def test_open_streams_of_a_sync_view_hold_no_thread(settings, transactional_db) -> None:  # type: ignore[no-untyped-def]
    """Twenty SSE answers of a sync view open at once: the view's thread went back to the pool as each began.

    Each open chat reply used to keep its request's thread until the reply ended: 500 open replies
    were 500 threads.
    """
    from django.db import connections

    from tests import urls

    settings.ROOT_URLCONF = "tests.urls"
    urls.ENDLESS_STREAM_EVENTS.clear()
    app = PooledThreadASGIHandler()
    scope = _scope("/api/v1/_test/endless")
    streams = []
    for _ in range(20):
        communicator = ApplicationCommunicator(app, scope)
        await communicator.send_input({"type": "http.request", "body": b""})
        assert (await communicator.receive_output(10))["status"] == 200
        assert (await communicator.receive_output(10))["body"] == b"data: tick\n\n"
        streams.append(communicator)
    assert app.threads.created == 1  # one pooled thread served every view; none is held by a stream
    executor = app.threads.acquire()
    try:  # and that thread holds no database connection while the streams go on
        assert executor.submit(lambda: all(c.connection is None for c in connections.all(initialized_only=True))).result(10)
    finally:
        app.threads.release(executor)
    for communicator in streams:
        await communicator.send_input({"type": "http.disconnect"})
        await communicator.wait(10)
    assert urls.ENDLESS_STREAM_EVENTS.count("stopped") == 20


def test_the_loaded_application_is_frozen_out_of_garbage_collection() -> None:
    """The web process's ASGI application freezes what it loaded, so full collections do not walk it (bench `chat`)."""
    import gc

    import config.asgi  # noqa: F401  # loading it settles the collector, as daphne does

    assert gc.get_freeze_count() > 50_000
    assert gc.get_threshold()[0] >= 10_000


def _gated_app(settings: Any, *, bound: int, grace_ms: int) -> tuple[PooledThreadASGIHandler, Any]:
    """A handler on tests.urls with the sync-view bound and grace period set, and fresh gated views."""
    from tests import urls

    settings.ROOT_URLCONF = "tests.urls"
    settings.ASGI_SYNC_VIEWS_MAX = bound
    settings.ASGI_SYNC_VIEWS_GRACE_MS = grace_ms
    urls.GATED = gated = urls.GatedViews()
    return PooledThreadASGIHandler(), gated


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.01)


async def test_sync_views_beyond_the_bound_wait_without_a_thread(settings) -> None:  # type: ignore[no-untyped-def]
    """Five requests at once with ASGI_SYNC_VIEWS_MAX=2: two views run, three wait on the loop, all are answered."""
    app, gated = _gated_app(settings, bound=2, grace_ms=60_000)
    requests = [asyncio.create_task(_get(app, "/api/v1/_test/gated")) for _ in range(5)]
    await _until(lambda: gated.running >= 2)
    for _ in range(20):  # let the loop run the others as far as they can go
        await asyncio.sleep(0.01)
    assert gated.running == 2 and app.threads.created == 2  # the three others hold no thread
    gated.gate.set()
    assert await asyncio.gather(*requests) == [200] * 5
    assert gated.most == 2


async def test_a_sync_view_past_the_grace_period_gives_its_place_back(settings) -> None:  # type: ignore[no-untyped-def]
    """ASGI_SYNC_VIEWS_MAX=2, grace 50 ms: two views that wait (on a provider, say) do not keep a quick request out."""
    app, gated = _gated_app(settings, bound=2, grace_ms=50)
    waiting = [asyncio.create_task(_get(app, "/api/v1/_test/gated")) for _ in range(2)]
    await _until(lambda: gated.running >= 2)
    quick = await asyncio.wait_for(_get(app, "/api/v1/_test/echo"), timeout=10)  # the bound is full of slow views
    assert quick == 200 and gated.running == 2 and not any(task.done() for task in waiting)
    more = [asyncio.create_task(_get(app, "/api/v1/_test/gated")) for _ in range(3)]
    await _until(lambda: gated.running >= 5)  # each slow view gives its place back after 50 ms: all five wait at once
    gated.gate.set()
    assert await asyncio.gather(*waiting, *more) == [200] * 5


def _waiting_scope(ms: int) -> dict[str, Any]:
    return _scope("/api/v1/_test/waiting", query=f"ms={ms}".encode())


async def test_an_async_view_answers_and_leaves_no_task_behind(settings) -> None:  # type: ignore[no-untyped-def]
    """The view runs in the request's own task; the disconnect listener is gone once the answer is sent."""
    from tests import urls

    settings.ROOT_URLCONF = "tests.urls"
    urls.ASYNC_VIEW_EVENTS.clear()
    before = asyncio.all_tasks()
    communicator = ApplicationCommunicator(PooledThreadASGIHandler(), _waiting_scope(0))
    await communicator.send_input({"type": "http.request", "body": b""})
    assert (await communicator.receive_output(10))["status"] == 200
    assert (await communicator.receive_output(10))["body"] == b'{"ok": true}'
    await communicator.wait(10)
    await asyncio.sleep(0)  # the cancelled listener ends on the loop's next turn
    assert urls.ASYNC_VIEW_EVENTS == ["started", "finished"]
    assert asyncio.all_tasks() - before == set()


async def test_a_client_that_leaves_cancels_the_async_view(settings) -> None:  # type: ignore[no-untyped-def]
    """The client disconnects while the view waits: the view is cancelled, and the request ends without an error."""
    from django.core.signals import request_finished

    from tests import urls

    settings.ROOT_URLCONF = "tests.urls"
    urls.ASYNC_VIEW_EVENTS.clear()
    finished: list[bool] = []

    def on_finished(**kwargs):  # type: ignore[no-untyped-def]
        finished.append(True)

    communicator = ApplicationCommunicator(PooledThreadASGIHandler(), _waiting_scope(30_000))
    await communicator.send_input({"type": "http.request", "body": b""})
    await _until(lambda: urls.ASYNC_VIEW_EVENTS == ["started"])
    request_finished.connect(on_finished)
    try:
        await communicator.send_input({"type": "http.disconnect"})
        await communicator.wait(10)  # returns, does not raise: the client's leaving is not the server's error
    finally:
        request_finished.disconnect(on_finished)
    assert urls.ASYNC_VIEW_EVENTS == ["started", "cancelled"]
    assert finished == [True]  # request_finished still ran: the request's database connections are handed back
    assert await communicator.receive_nothing()  # no answer was started for a client that has gone


async def test_a_stopping_server_cancels_the_async_view_and_waits_for_its_cleanup(settings) -> None:  # type: ignore[no-untyped-def]
    """daphne cancels the requests in flight when it stops: the view sees the cancel and the request's task ends cancelled."""
    from tests import urls

    settings.ROOT_URLCONF = "tests.urls"
    urls.ASYNC_VIEW_EVENTS.clear()
    communicator = ApplicationCommunicator(PooledThreadASGIHandler(), _waiting_scope(30_000))
    await communicator.send_input({"type": "http.request", "body": b""})
    await _until(lambda: urls.ASYNC_VIEW_EVENTS == ["started"])
    communicator.future.cancel()
    try:
        await communicator.future
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the request's task must end cancelled")
    assert urls.ASYNC_VIEW_EVENTS == ["started", "cancelled"]


async def _answer(app: PooledThreadASGIHandler, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    communicator = ApplicationCommunicator(app, _scope(path, method=method, headers=[(b"content-type", b"application/json"), *headers]))
    await communicator.send_input({"type": "http.request", "body": body})
    start = await communicator.receive_output(10)
    content = b""
    more = True
    while more:
        message = await communicator.receive_output(10)
        content += message.get("body", b"")
        more = message.get("more_body", False)
    await communicator.wait(10)  # the request's close (request_finished) has run
    return int(start["status"]), {name.decode().lower(): value.decode() for name, value in start["headers"]}, content


async def test_a_gateway_call_without_cookies_skips_the_session_middleware_only(settings, transactional_db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An `nxk_` key and no cookie: the session, auth, CSRF and messages middleware do not run; every other one does."""
    from asgiref.sync import sync_to_async

    from apps.accounts.seeds import seed
    from apps.accounts.services import api_key_create
    from apps.core import loop_middleware
    from tests.factories import UserFactory

    await sync_to_async(seed)()
    user = await sync_to_async(UserFactory)()
    _key, raw = await sync_to_async(api_key_create)(user=user, name="lean", scopes=["*"])
    sessions: list[str] = []
    original = loop_middleware.SessionMiddleware.process_request

    def counted(self, request):  # type: ignore[no-untyped-def]
        sessions.append(request.path)
        return original(self, request)

    monkeypatch.setattr(loop_middleware.SessionMiddleware, "process_request", counted)
    app = PooledThreadASGIHandler()
    status, headers, _body = await _answer(app, "GET", "/api/v1/openai/models", [(b"authorization", f"Bearer {raw}".encode()), (b"x-request-id", b"lean-call-1")])
    assert status == 200
    assert sessions == []
    assert headers["x-request-id"] == "lean-call-1"  # RequestIdMiddleware
    assert headers["x-content-type-options"] == "nosniff"  # SecurityMiddleware
    assert headers["x-frame-options"] == "DENY"  # XFrameOptionsMiddleware
    assert "x-ratelimit-limit" in headers  # RateLimitHeadersMiddleware
    # The same call with a cookie (a browser that has one for this host) takes the whole chain.
    status, headers, _body = await _answer(app, "GET", "/api/v1/openai/models", [(b"authorization", f"Bearer {raw}".encode()), (b"cookie", b"theme=dark")])
    assert status == 200 and sessions == ["/api/v1/openai/models"]


async def test_the_gateway_still_takes_a_session_cookie_with_its_csrf_check(settings, transactional_db) -> None:  # type: ignore[no-untyped-def]
    """The dashboard's session works on the gateway as on every route: reads pass, an unsafe call without the CSRF token is refused."""
    from asgiref.sync import sync_to_async
    from django.test import Client

    from apps.accounts.seeds import seed
    from tests.factories import UserFactory

    await sync_to_async(seed)()
    user = await sync_to_async(UserFactory)()
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    app = PooledThreadASGIHandler()
    status, _headers, body = await _answer(app, "GET", "/api/v1/openai/models", [(b"cookie", cookie)])
    assert status == 200 and json.loads(body)["object"] == "list"
    status, _headers, body = await _answer(app, "POST", "/api/v1/openai/chat/completions", [(b"cookie", cookie)],
                                           b'{"model": "x", "messages": [{"role": "user", "content": "hi"}]}')
    assert status == 403 and "CSRF" in json.loads(body)["error"]["message"]  # a session's unsafe call needs the token
    status, _headers, _body = await _answer(app, "GET", "/api/v1/openai/models", [])
    assert status == 401  # and no cookie, no key: not authenticated


def _twisted_request(request_class: Any, body: bytes, content_type: bytes) -> Any:
    """A POST as daphne's Twisted side receives it, up to the point where daphne would hand it to the application."""
    from types import SimpleNamespace

    from twisted.web.test.requesthelper import DummyChannel

    channel = DummyChannel()
    channel.factory = SimpleNamespace(server=SimpleNamespace(protocol_connected=lambda request: None))  # daphne's server, as seen by its request
    request = request_class(channel)
    request.gotLength(len(body))
    request.handleContentChunk(body)
    request.requestHeaders.setRawHeaders(b"content-type", [content_type])
    request.process = lambda: None  # daphne's: would start the ASGI application
    request.requestReceived(b"POST", b"/api/v1/documents", b"HTTP/1.1")
    return request


def test_under_daphne_twisted_hands_over_bodies_without_parsing_forms_out_of_them(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Twisted parsed every form and multipart upload into `args`, which daphne never reads: a second copy of each upload."""
    import daphne.http_protocol

    from apps.core.asgi import daphne_without_form_parsing

    original = daphne.http_protocol.WebRequest
    while getattr(original, "parses_forms", True) is False:  # loading config.asgi in this process already gave it the switch
        original = original.__bases__[0]
    monkeypatch.setattr(daphne.http_protocol, "WebRequest", original)  # daphne's own class, put back as it was after the test
    form = b"name=report&size=12"
    assert _twisted_request(original, form, b"application/x-www-form-urlencoded").args == {b"name": [b"report"], b"size": [b"12"]}
    daphne_without_form_parsing()
    daphne_without_form_parsing()  # once is enough: a second call changes nothing
    assert daphne.http_protocol.WebRequest.__bases__ == (original,)
    upload = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n' + b"x" * 100_000 + b"\r\n--b--\r\n"
    request = _twisted_request(daphne.http_protocol.WebRequest, upload, b"multipart/form-data; boundary=b")
    assert request.args == {}
    assert request.content.read() == upload  # the body daphne gives the application, whole
