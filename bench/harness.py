"""The benchmark harness: private services, a migrated database, real processes, percentiles.

`python -m bench [name ...]` runs `run(ctx)` of every `bench/bench_<name>.py` (or only those named)
and writes each result to `bench/results/<name>.json`. Everything listens on loopback only.
"""
from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(ROOT))

from apps.core.runtime.embedded import EmbeddedPostgres, EmbeddedRedis, free_port, remove_tree  # noqa: E402


def bench_user_code(email: str) -> str:
    """Shell code that leaves `u`: a bench user whose tier limit does not throttle the load (measure the server)."""
    return (
        "from django.contrib.auth import get_user_model\n"
        "from apps.accounts.models import Tier\n"
        "Tier.objects.update(api_rpm=10**7)\n"
        "U = get_user_model()\n"
        f"u = U.objects.filter(email={email!r}).first() or U.objects.create_user(email={email!r}, password='bench-pass-123456')\n"
    )


def percentiles(samples_seconds: Iterable[float]) -> dict[str, float]:
    """p50/p95/p99/mean/max in milliseconds of a list of durations in seconds."""
    values = sorted(samples_seconds)
    if not values:
        return {"count": 0}

    def pick(q: float) -> float:
        index = min(len(values) - 1, max(0, int(round(q * (len(values) - 1)))))
        return round(values[index] * 1000, 3)

    return {
        "count": len(values),
        "p50_ms": pick(0.50),
        "p95_ms": pick(0.95),
        "p99_ms": pick(0.99),
        "mean_ms": round(statistics.fmean(values) * 1000, 3),
        "max_ms": round(values[-1] * 1000, 3),
    }


@dataclass
class BenchContext:
    """What a benchmark gets: services, environment, and process starters."""

    tmp: Path
    env: dict[str, str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def manage(self, *args: str, **extra_env: str) -> str:
        """Run a manage.py command against the bench database; returns its output."""
        env = {**self.env, **extra_env}
        result = subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def django_shell(self, code: str, **extra_env: str) -> str:
        """Run Python with Django set up (for creating users, keys, fixtures); returns stdout."""
        return self.manage("shell", "-c", code, **extra_env)

    def start_daphne(self, **extra_env: str) -> str:
        """One daphne process on a free port; returns its base URL."""
        port = free_port()
        log = (self.tmp / f"daphne-{port}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=ROOT, env={**self.env, **extra_env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.processes.append(process)
        url = f"http://127.0.0.1:{port}"
        _wait_http(url + "/health", process)
        return url

    def start_worker(self, queues: str = "default,llm,ingest,builds,agents", concurrency: int = 2, **extra_env: str) -> subprocess.Popen[bytes]:
        """A Celery worker process; returns once it has a heartbeat."""
        import redis

        name = f"bench-{free_port()}@localhost"
        log = (self.tmp / f"worker-{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "warning", "-Q", queues, "-c", str(concurrency),
             "-n", name, "--without-mingle", "--without-gossip"],
            cwd=ROOT, env={**self.env, **extra_env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.processes.append(process)
        client = redis.Redis.from_url(self.env["REDIS_URL"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if client.exists(f"nexus:worker:{name}"):
                return process
            if process.poll() is not None:
                raise RuntimeError("worker exited at start")
            time.sleep(0.1)
        raise RuntimeError("worker did not start")

    def start_fake_llm(self, api_key: str) -> str:
        """The loopback fake provider (tests/fakes/llm_server.py) as its own process; returns its URL."""
        import urllib.request

        port = free_port()
        self.start_process([sys.executable, "-m", "tests.fakes.llm_server", "--port", str(port), "--api-key", api_key], log_name="fake-llm")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url + "/v1/models", timeout=1)
                return url
            except Exception as exc:  # noqa: BLE001
                if getattr(exc, "code", None):
                    return url  # it answered (401 without a key)
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def start_process(self, args: list[str], *, env: dict[str, str] | None = None, log_name: str = "process") -> subprocess.Popen[bytes]:
        """Any other process (fake providers, a peer to compare with), stopped with the run."""
        log = (self.tmp / f"{log_name}-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(args, cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        """Stop every process this context started."""
        for process in reversed(self.processes):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    try:
                        os.killpg(process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        self.processes.clear()


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited before answering {url}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answered; the status is the benchmark's business
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"no answer at {url}")


async def http_read_load(url: str, *, seconds: float, connections: int, headers: dict[str, str] | None = None,
                         cookies: dict[str, str] | None = None, warmup: int = 50) -> dict[str, Any]:
    """Closed-loop GET load on one URL: requests/s, latency percentiles and status counts."""
    import asyncio

    import aiohttp

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=headers, cookies=cookies) as session:
        for _ in range(warmup):  # warm connections and caches
            async with session.get(url) as response:
                await response.read()
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    return {"rps": round(len(latencies) / elapsed, 1), "latency": percentiles(latencies), "statuses": statuses,
            "connections": connections, "seconds": round(elapsed, 1)}


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    # Other work on the machine skews every figure: record how busy it was.
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "load_average_1_5_15": [round(value, 2) for value in os.getloadavg()]}


class Services:
    """The bench's own embedded PostgreSQL and Redis (or DATABASE_URL/REDIS_URL when set)."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="nexus-bench-"))
        self.started: list[EmbeddedPostgres | EmbeddedRedis] = []
        self.env = dict(os.environ)
        self.env.update(DJANGO_SETTINGS_MODULE="config.settings.local", DJANGO_DEBUG="false", LOG_LEVEL="WARNING",
                        PYTHONUNBUFFERED="1", PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))

    def __enter__(self) -> Services:
        try:
            return self._start()
        except BaseException:
            # `with` calls __exit__ only once __enter__ has returned: a failed migrate (or Ctrl-C)
            # here would otherwise leave the embedded PostgreSQL and Redis running.
            self.__exit__()
            raise

    def _start(self) -> Services:
        if not self.env.get("DATABASE_URL"):
            postgres = EmbeddedPostgres(self.tmp / "postgres" / "data", free_port(), database="nexus_bench")
            self.env["DATABASE_URL"] = postgres.start()
            self.started.append(postgres)
        if not self.env.get("REDIS_URL"):
            redis = EmbeddedRedis(self.tmp / "redis", free_port(), persistent=False)
            self.env["REDIS_URL"] = redis.start()
            self.started.append(redis)
        result = subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=self.env,
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(result.stderr)
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "seed"], cwd=ROOT, env=self.env, capture_output=True, text=True)
        return self

    def __exit__(self, *exc: object) -> None:
        while self.started:
            self.started.pop().stop()
        remove_tree(self.tmp)


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Save one benchmark's figures with when and where they were taken."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "measured_at": datetime.now(tz=UTC).isoformat(), "machine": machine(), **result}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
