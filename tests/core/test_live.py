"""Through real processes: SSE over daphne with reconnects, health, workers, deploy checks."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from apps.core import streams
from apps.core.runtime.embedded import EmbeddedRedis, free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.live


def _read_events(response: httpx.Response, count: int) -> list[dict]:
    """Parse SSE frames until `count` events (comments skipped)."""
    events: list[dict] = []
    current: dict = {}
    for line in response.iter_lines():
        if line.startswith(":"):
            current.setdefault("comments", 0)
            continue
        if not line:
            if "data" in current:
                events.append(current)
                if len(events) == count:
                    return events
            current = {}
            continue
        field, _, value = line.partition(": ")
        current[field] = value
    return events


def test_sse_disconnect_and_reconnect_with_last_event_id(daphne_server) -> None:  # type: ignore[no-untyped-def]
    key = streams.stream_key("test", uuid.uuid4())
    for n in range(3):
        streams.publish(key, {"type": "tick", "n": n})

    url = f"{daphne_server.url}/api/v1/_test/stream/{key}"
    with httpx.Client(timeout=10) as client:
        with client.stream("GET", url) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["x-accel-buffering"] == "no"
            first = _read_events(response, 2)
        # The client went away after event 2; the run goes on publishing.
        assert [event["id"] for event in first] == ["1", "2"]
        assert first[0]["event"] == "tick"
        for n in range(3, 6):
            streams.publish(key, {"type": "tick", "n": n})

        def finish_later() -> None:
            time.sleep(0.3)
            streams.publish(key, {"type": "tick", "n": 6})
            streams.publish(key, {"type": "done"}, final=True)

        threading.Thread(target=finish_later).start()
        with client.stream("GET", url, headers={"Last-Event-ID": "2"}) as response:
            rest = _read_events(response, 100)
    assert [event["id"] for event in rest] == ["3", "4", "5", "6", "7", "8"]
    assert rest[-1]["event"] == "done"
    assert '"n":6' in rest[-2]["data"]


def test_sse_sends_keepalive_comments(tmp_path: Path, transactional_db) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import start_daphne, stop_process

    server = start_daphne(tmp_path, SSE_KEEPALIVE_SECONDS="0.2")
    try:
        key = streams.stream_key("test", uuid.uuid4())
        with httpx.Client(timeout=5) as client, client.stream("GET", f"{server.url}/api/v1/_test/stream/{key}") as response:
            lines = []
            for line in response.iter_lines():
                lines.append(line)
                if len([item for item in lines if item.startswith(":")]) >= 2:
                    break
        assert sum(1 for line in lines if line.startswith(": keep-alive")) >= 2
    finally:
        stop_process(server.process)


def test_health_is_degraded_when_redis_stops(tmp_path: Path, transactional_db) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import start_daphne, stop_process

    redis = EmbeddedRedis(tmp_path / "redis", free_port(), persistent=False)
    redis_url = redis.start()
    server = start_daphne(tmp_path, REDIS_URL=redis_url)
    try:
        body = httpx.get(f"{server.url}/health", timeout=5).json()
        assert body["services"]["redis"]["status"] == "ok"
        assert body["services"]["database"]["status"] == "ok"
        redis.stop()
        response = httpx.get(f"{server.url}/api/v1/health", timeout=10)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "degraded"
        assert body["services"]["redis"]["status"] == "down"
        assert body["services"]["database"]["status"] == "ok"
        assert set(body) == {"status", "version", "timestamp", "services"}
    finally:
        stop_process(server.process)
        redis.stop()


def test_health_counts_a_live_worker_from_its_heartbeat(celery_worker) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client

    body = Client().get("/health").json()
    assert body["services"]["workers"]["status"] == "ok"
    assert body["services"]["workers"]["count"] >= 1


def test_health_without_workers_is_degraded(db) -> None:  # type: ignore[no-untyped-def]
    import redis as redis_lib
    from django.conf import settings
    from django.test import Client

    from apps.core.heartbeat import HEARTBEAT_PREFIX

    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(match=f"{HEARTBEAT_PREFIX}*"):
        client.delete(key)
    body = Client().get("/health").json()
    assert body["status"] == "degraded"
    assert body["services"]["workers"]["status"] == "down"


def test_check_deploy_is_clean_with_production_settings() -> None:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="prod-" + uuid.uuid4().hex + uuid.uuid4().hex,
        DJANGO_ALLOWED_HOSTS="nexus.example.com",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
