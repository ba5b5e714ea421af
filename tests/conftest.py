"""Shared fixtures: API clients, users, and real processes (daphne, Celery workers) on loopback."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from django.conf import settings
from rest_framework.test import APIClient

from apps.core.runtime.embedded import free_port
from tests.factories import UserFactory

pytest_plugins = ["tests.browser"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def api_client() -> APIClient:
    """An unauthenticated DRF test client."""
    return APIClient()


@pytest.fixture
def user(db):  # type: ignore[no-untyped-def]
    """A plain user with the default role and tier."""
    return UserFactory()


@pytest.fixture
def other_user(db):  # type: ignore[no-untyped-def]
    """A second user, for checking that one user never sees another's data."""
    return UserFactory()


@pytest.fixture
def auth_client(user) -> APIClient:  # type: ignore[no-untyped-def]
    """A DRF test client signed in as `user`."""
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def _test_database_url() -> str:
    """DATABASE_URL pointing at pytest-django's test database, for subprocesses."""
    from django.db import connection

    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a process that must share this test session's database and Redis."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=_test_database_url(),
        REDIS_URL=settings.REDIS_URL,
        CELERY_TASK_ALWAYS_EAGER="false",
        PYTHONUNBUFFERED="1",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    )
    env.update(extra)
    return env


@dataclass
class LiveServer:
    """A daphne process serving Nexus on loopback."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """What the server printed so far (for failure messages)."""
        return self.log_path.read_text(errors="replace")[-4000:]


def _wait_for_http(url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text(errors='replace')[-3000:]}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not answer at {url}")


def start_daphne(tmp_dir: Path, **extra_env: str) -> LiveServer:
    """Start daphne with the test settings (and tests/urls.py for test-only routes)."""
    port = free_port()
    log_path = tmp_dir / f"daphne-{port}.log"
    # The served loop's own database connections on, as in production (config/settings/test.py turns them off for the test process).
    env = subprocess_env(**{"DJANGO_ROOT_URLCONF": "tests.urls", "DJANGO_WEBSOCKET_URLCONF": "tests.routing", "DATABASE_ASYNC_POOL_MAX": "2",
                            **extra_env})
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    _wait_for_http(url + "/health", process, log_path)
    return LiveServer(url=url, process=process, log_path=log_path)


def stop_process(process: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    """Stop a process group we started, forcefully if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=timeout)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=5)


@pytest.fixture
def daphne_server(transactional_db, tmp_path: Path) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    """A real daphne server on the test database (tests using it see committed data only)."""
    server = start_daphne(tmp_path)
    try:
        yield server
    finally:
        stop_process(server.process)


@dataclass
class WorkerProcess:
    """A real Celery worker process on the test broker."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """What the worker printed so far."""
        return self.log_path.read_text(errors="replace")[-6000:]


def start_worker(tmp_dir: Path, *, queues: str = "default,llm,ingest,builds,agents", concurrency: int = 2, **extra_env: str) -> WorkerProcess:
    """Start `celery worker` and wait until its heartbeat is in Redis."""
    import redis

    from apps.core.heartbeat import HEARTBEAT_PREFIX

    name = f"test-{free_port()}@localhost"
    log_path = tmp_dir / f"worker-{name}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "info", "-Q", queues, "-c", str(concurrency), "-n", name,
         "--without-mingle", "--without-gossip"],
        cwd=ROOT,
        env=subprocess_env(**extra_env),
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    client = redis.Redis.from_url(settings.REDIS_URL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited: {log_path.read_text(errors='replace')[-3000:]}")
        if client.exists(f"{HEARTBEAT_PREFIX}{name}"):
            return WorkerProcess(process=process, log_path=log_path)
        time.sleep(0.1)
    stop_process(process)
    raise RuntimeError(f"worker did not start: {log_path.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def broker(settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Tasks sent from the test go through Redis to real workers (no eager mode) until the test ends."""
    from config.celery_app import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.conf.task_always_eager = True


WorkerStart = Callable[..., WorkerProcess]


@pytest.fixture
def worker_start(transactional_db, broker: None, tmp_path: Path) -> Iterator[WorkerStart]:  # type: ignore[no-untyped-def]
    """`worker_start(queues=..., concurrency=..., **env)` starts a real Celery worker; each one is stopped when the test ends.

    Workers are other processes: they see committed data only (hence the transactional database).
    """
    started: list[WorkerProcess] = []

    def start(*, queues: str = "default,llm,ingest,builds,agents", concurrency: int = 2, **extra_env: str) -> WorkerProcess:
        worker = start_worker(tmp_path, queues=queues, concurrency=concurrency, **extra_env)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            stop_process(worker.process)


@pytest.fixture
def celery_worker(worker_start: WorkerStart) -> WorkerProcess:
    """A real Celery worker; tasks sent from the test go through Redis to it (no eager mode)."""
    return worker_start()


@pytest.fixture(autouse=True)
def fresh_channel_layer() -> Iterator[None]:
    """Each test gets its own channel layer: its per-channel locks bind to the first event loop that waits on them,
    and each async test runs on a loop of its own (a lock left held by one test's consumer broke the next one)."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()
