"""apps.core.asgi: a request's sync code runs in a thread of its own, taken from a pool and given back."""
from __future__ import annotations

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


async def _get(app: PooledThreadASGIHandler, path: str) -> int:
    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": [(b"host", b"localhost")],
             "client": ("127.0.0.1", 1), "server": ("localhost", 80), "scheme": "http", "http_version": "1.1",
             "asgi": {"version": "3.0"}}
    communicator = ApplicationCommunicator(app, scope)
    await communicator.send_input({"type": "http.request", "body": b""})
    start = await communicator.receive_output(10)
    while (await communicator.receive_output(10)).get("more_body"):
        pass
    return int(start["status"])


async def test_sequential_requests_run_their_sync_code_in_one_pooled_thread(settings, transactional_db) -> None:  # type: ignore[no-untyped-def]
    app = PooledThreadASGIHandler()
    statuses = [await _get(app, "/api/v1/users/me") for _ in range(20)]
    assert statuses == [401] * 20  # a sync DRF view, answered each time
    assert app.threads.created == 1  # one thread served all twenty, none started per request


def test_the_loaded_application_is_frozen_out_of_garbage_collection() -> None:
    """The web process's ASGI application freezes what it loaded, so full collections do not walk it (bench `chat`)."""
    import gc

    import config.asgi  # noqa: F401  # loading it settles the collector, as daphne does

    assert gc.get_freeze_count() > 50_000
    assert gc.get_threshold()[0] >= 10_000
