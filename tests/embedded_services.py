"""pytest plugin: give the test session its own embedded PostgreSQL and Redis.

Loaded with `-p tests.embedded_services` (see pyproject.toml) so it runs before pytest-django
reads the settings. The servers use free ports and a throw-away folder, so a `make run` on the
same machine is untouched. With DATABASE_URL / REDIS_URL set, those servers are used instead.
Subprocesses the tests start (daphne, Celery workers) inherit the URLs through the environment.
"""
from __future__ import annotations

import atexit
import os
import signal
import tempfile
from pathlib import Path
from types import FrameType

import pytest

from apps.core.runtime.embedded import EmbeddedPostgres, EmbeddedRedis, free_port, remove_tree

_services: list[EmbeddedPostgres | EmbeddedRedis] = []
_folder: Path | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """Start the services before Django's settings are read."""
    global _folder
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return  # xdist workers inherit the controller's servers through the environment
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        return
    _folder = Path(tempfile.mkdtemp(prefix="nexus-test-"))
    # A session that ends any other way than through pytest_unconfigure (a closed output pipe, an
    # internal error, SIGTERM or SIGHUP from a closed terminal) must not leave the servers running.
    atexit.register(_stop_services)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, _interrupt)
    if not os.environ.get("DATABASE_URL"):
        postgres = EmbeddedPostgres(_folder / "postgres" / "data", free_port(), durable=False)
        os.environ["DATABASE_URL"] = postgres.start()
        _services.append(postgres)
    if not os.environ.get("REDIS_URL"):
        redis = EmbeddedRedis(_folder / "redis", free_port(), persistent=False)
        os.environ["REDIS_URL"] = redis.start()
        _services.append(redis)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """End the session as Ctrl-C does, so pytest unwinds and the servers are stopped."""
    raise KeyboardInterrupt(f"received {signal.Signals(signum).name}")


def _stop_services() -> None:
    """Stop what this session started and delete its folder (once, whichever way the session ends)."""
    global _folder
    while _services:
        _services.pop().stop()
    if _folder is not None:
        remove_tree(_folder)
        _folder = None


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop what this session started and delete its folder."""
    _stop_services()
