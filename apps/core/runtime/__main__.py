"""`python -m apps.core.runtime run`: what `make run` does after installing.

Starts the embedded PostgreSQL and Redis (unless DATABASE_URL / REDIS_URL name servers to use),
migrates, seeds, creates a superuser when asked to, then runs the Procfile with honcho. Ctrl-C or
SIGTERM stops the web, worker and beat processes first and the embedded services last, leaving
no process behind.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .embedded import EmbeddedPostgres, EmbeddedRedis, RuntimeProblem, port_is_free

ROOT = Path(__file__).resolve().parents[3]
VAR = ROOT / "var"


def _say(message: str) -> None:
    print(f"nexus | {message}", flush=True)


def _manage(*args: str, env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeProblem(f"`manage.py {' '.join(args)}` failed (exit {result.returncode}); see the output above.")


def run(args: argparse.Namespace) -> int:
    """Start everything and serve until interrupted."""
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    # The Procfile names daphne and celery: take them from this interpreter's environment.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    port = int(env.get("PORT", "8000"))
    env["PORT"] = str(port)
    bind = env.get("BIND", "127.0.0.1")
    env["BIND"] = bind
    if not port_is_free(port, host=bind if bind != "0.0.0.0" else "127.0.0.1"):
        raise RuntimeProblem(f"Port {port} is already in use, so Nexus cannot serve there. Stop what uses it, or run `PORT=8001 make run`.")

    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    honcho: subprocess.Popen[bytes] | None = None
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        _say(f"received {signal.Signals(signum).name}, stopping…")
        if honcho is not None and honcho.poll() is None:
            honcho.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    started = time.monotonic()
    try:
        if not env.get("DATABASE_URL"):
            postgres = EmbeddedPostgres(VAR / "postgres" / "data", int(env.get("EMBEDDED_PG_PORT", "54329")))
            env["DATABASE_URL"] = postgres.start()
            _say(f"embedded PostgreSQL 18 + pgvector on 127.0.0.1:{postgres.port} (data in var/postgres/)")
        else:
            _say("using DATABASE_URL; no embedded PostgreSQL started")
        if not env.get("REDIS_URL"):
            redis = EmbeddedRedis(VAR / "redis", int(env.get("EMBEDDED_REDIS_PORT", "63790")))
            env["REDIS_URL"] = redis.start()
            _say(f"embedded Redis on 127.0.0.1:{redis.port} (data in var/redis/)")
        else:
            _say("using REDIS_URL; no embedded Redis started")

        _manage("bootstrap", env=env)  # migrate, seed, superuser: one Django start-up
        if stopping:
            return 0
        _say(f"ready in {time.monotonic() - started:.1f} s: http://{'localhost' if bind in ('127.0.0.1', '0.0.0.0') else bind}:{port}/ (Ctrl-C stops everything)")
        honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "-f", str(ROOT / "Procfile"), "-d", str(ROOT)],
            env=env,
            cwd=ROOT,
            start_new_session=True,  # signals reach it through us, so shutdown happens in order
        )
        code = honcho.wait()
        return 0 if stopping else code
    finally:
        if honcho is not None and honcho.poll() is None:
            honcho.terminate()
            try:
                honcho.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(honcho.pid, signal.SIGKILL)
        if redis is not None:
            redis.stop()
        if postgres is not None:
            postgres.stop()
        if postgres is not None or redis is not None:
            _say("embedded services stopped")


def main() -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m apps.core.runtime")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start the embedded services and serve the Procfile")
    sub.add_parser("web", help="WEB_CONCURRENCY daphne processes (default: one per core) on one port")
    args = parser.parse_args()
    try:
        if args.command == "run":
            return run(args)
        if args.command == "web":
            from .web import serve

            return serve()
    except RuntimeProblem as problem:
        print(f"nexus | error: {problem}", file=sys.stderr, flush=True)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
