"""What a process's TCP sockets are connected to: for the tests that check connections are closed or bounded."""
from __future__ import annotations

import psutil


def connections_to(port: int, *, pid: int | None = None, established_only: bool = True) -> set[tuple[str, int]]:
    """The local addresses of `pid`'s (this process's by default) TCP connections to `port`."""
    return {(c.laddr.ip, c.laddr.port) for c in psutil.Process(pid).net_connections(kind="tcp")
            if c.raddr and c.raddr.port == port and (not established_only or c.status == psutil.CONN_ESTABLISHED)}
