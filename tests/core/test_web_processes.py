"""`make run`'s web command: WEB_CONCURRENCY daphne processes on one port, each serving, restarted when they die."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from apps.core import streams
from apps.core.runtime.embedded import free_port
from tests.conftest import ROOT, stop_process, subprocess_env

pytestmark = pytest.mark.live


def _children(pid: int) -> set[int]:
    return {int(item) for item in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()}


def _pids(url: str, count: int) -> set[int]:
    seen: set[int] = set()
    for _ in range(count):
        with httpx.Client(timeout=10) as client:  # a new connection each time: the kernel picks the process
            seen.add(client.get(f"{url}/api/v1/_test/pid").json()["pid"])
    return seen


def _wait(url: str, launcher: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert launcher.poll() is None, log.read_text()
        try:
            if httpx.get(url + "/health", timeout=2).status_code < 600:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(log.read_text())


def test_two_web_processes_share_the_port_and_a_dead_one_is_replaced(transactional_db: Any, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "web.log"
    env = subprocess_env(DJANGO_ROOT_URLCONF="tests.urls", WEB_CONCURRENCY="2", PORT=str(port), BIND="127.0.0.1")
    launcher = subprocess.Popen([sys.executable, "-m", "apps.core.runtime", "web"], cwd=ROOT, env=env,
                                stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url, launcher, log)
        daphnes = _children(launcher.pid)
        assert len(daphnes) == 2
        # Both processes accept on the one port.
        assert _pids(url, 60) == daphnes
        # A run stream published anywhere is readable through any process (streams live in Redis).
        key = streams.stream_key("test", f"web-{port}")
        streams.publish(key, {"type": "hello"})
        streams.publish(key, {"type": "bye"}, final=True)
        for _ in range(4):
            with httpx.Client(timeout=10) as client:
                body = client.get(f"{url}/api/v1/_test/stream/{key}", headers={"Accept": "text/event-stream"}).text
            assert '"hello"' in body and '"bye"' in body
        # A process that dies is started again; the port keeps answering meanwhile.
        victim = sorted(daphnes)[0]
        os.kill(victim, signal.SIGKILL)
        assert httpx.get(f"{url}/api/v1/_test/pid", timeout=10).json()["pid"] != victim
        deadline = time.monotonic() + 30
        while len(_children(launcher.pid) - {victim}) < 2:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        serving = _children(launcher.pid)
    finally:
        stop_process(launcher)
    # Stopping the launcher stops every daphne it started.
    time.sleep(0.5)
    for pid in serving:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
