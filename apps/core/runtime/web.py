"""`python -m apps.core.runtime web`: WEB_CONCURRENCY daphne processes sharing one listening socket.

daphne serves one process on one core. This opens the port once, then starts `WEB_CONCURRENCY`
daphne processes (default: one per core) that each accept on that same inherited socket
(`daphne --fd`), so the kernel spreads connections across them and every core serves requests.
Nothing else is needed for that to be correct: sessions, rate limits, run streams (SSE), the
Channels layer (WebSockets) and cancel flags already live in PostgreSQL and Redis.

A daphne that dies is started again (after a second, so a crash loop does not spin); SIGTERM or
SIGINT stops them all.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time


def web_concurrency() -> int:
    """How many web processes: WEB_CONCURRENCY, else one per core."""
    raw = os.environ.get("WEB_CONCURRENCY", "").strip()
    if raw:
        return max(1, int(raw))
    return max(1, os.cpu_count() or 1)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _daphne(fd: int, number: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "daphne", "--fd", str(fd), "--proxy-headers", "config.asgi:application"],
        pass_fds=(fd,), env={**os.environ, "NEXUS_WEB_PROCESS": str(number)},
    )


def serve() -> int:
    """Open BIND:PORT, run WEB_CONCURRENCY daphne processes on it until told to stop."""
    host = os.environ.get("BIND", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    count = web_concurrency()
    sock = _listen(host, port)
    fd = sock.fileno()
    children = {number: _daphne(fd, number) for number in range(count)}
    print(f"web | {count} daphne process(es) on http://{host}:{port}", flush=True)
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stopping:
        time.sleep(0.5)
        for number, child in list(children.items()):
            if child.poll() is not None and not stopping:
                print(f"web | daphne {number} exited with {child.returncode}; starting it again", flush=True)
                time.sleep(1)
                children[number] = _daphne(fd, number)
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 15
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    sock.close()
    return 0
