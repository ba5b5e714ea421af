"""The embedded runtime reports problems a person can fix as one clear sentence, not a traceback."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from apps.core.runtime.embedded import EmbeddedPostgres, EmbeddedRedis, RuntimeProblem, free_port
from tests.conftest import ROOT


def _occupied_port() -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock, sock.getsockname()[1]


def test_a_data_folder_of_another_postgres_version_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "postgres" / "data"
    data.mkdir(parents=True)
    (data / "PG_VERSION").write_text("16\n")
    with pytest.raises(RuntimeProblem, match=r"PostgreSQL 16 database, but the embedded server is PostgreSQL 18"):
        EmbeddedPostgres(data, free_port()).start()
    assert (data / "PG_VERSION").read_text() == "16\n"  # untouched


def test_redis_on_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    sock, port = _occupied_port()
    try:
        with pytest.raises(RuntimeProblem, match=f"Port {port} is already in use.*EMBEDDED_REDIS_PORT"):
            EmbeddedRedis(tmp_path / "redis", port).start()
    finally:
        sock.close()


def test_postgres_on_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    sock, port = _occupied_port()
    try:
        with pytest.raises(RuntimeProblem, match=f"Port {port} is already in use.*EMBEDDED_PG_PORT"):
            EmbeddedPostgres(tmp_path / "postgres" / "data", port).start()
    finally:
        sock.close()


def test_make_run_with_its_port_taken_says_so_and_exits(tmp_path: Path) -> None:
    sock, port = _occupied_port()
    try:
        env = {**os.environ, "PORT": str(port)}
        result = subprocess.run([sys.executable, "-m", "apps.core.runtime", "run"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
    finally:
        sock.close()
    assert result.returncode == 2
    assert f"Port {port} is already in use" in result.stderr and "PORT=8001 make run" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_the_makefile_refuses_an_old_python(tmp_path: Path) -> None:
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\nexec " + sys.executable + " -c 'import sys; sys.version_info = (3, 9, 0); exec(sys.argv[2])' -c \"$2\"\n")
    fake.chmod(0o755)
    result = subprocess.run(["make", "-s", "check-python", f"PYTHON={fake}"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Nexus needs Python 3.11 or newer; found 3.9" in result.stdout + result.stderr
