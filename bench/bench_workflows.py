"""Workflows scheduler overhead on a real worker: a 50-step DAG of instant steps, and 100 concurrent runs.

`dag50`: a chain of 50 `condition` steps (each depends on the one before, so the critical path is the
whole DAG; a step's work, evaluating `true`, is microseconds). Overhead = the run's wall time
(created -> finished): with instant steps all of it is what the scheduler adds (queueing, claiming,
recording, advancing). Median of DAG_RUNS runs after one warm-up run (reported as `first_run_s`: it
starts while the worker's pool processes may still be starting, and opens their connections). `busy_s` is the sum of the
steps' own started -> finished times (their bookkeeping included), and `worker_cpu_ms_per_step` the
CPU the worker processes spent per step (psutil, parent and pool children).

`concurrent`: CONCURRENT_RUNS runs of a 4-step diamond of conditions started at once; the time until
the last one ends, runs per second, and each run's latency (created -> finished) percentiles.

Targets (issue 18): overhead of the 50-step DAG <= 0.5 s over its critical path; 100 concurrent runs.
Measured in a child process with Django set up on the bench database; WORKFLOWS_MAX_STEPS is raised
to 50 there (API.md caps a workflow at 20 steps).
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import BenchContext, percentiles

ROOT = Path(__file__).resolve().parent.parent
DAG_STEPS = 50
DAG_RUNS = 3
CONCURRENT_RUNS = 100


def run(ctx: BenchContext) -> dict[str, Any]:
    """Start a worker on `workflows` + `default`, then measure in a child process; see the module docstring."""
    worker = ctx.start_worker(queues="workflows,default", concurrency=2, WORKFLOWS_MAX_STEPS=str(DAG_STEPS))
    figures = _child(ctx, worker.pid)
    return {"targets": {"dag50_overhead_s": "<= 0.5", "concurrent_runs": CONCURRENT_RUNS}, "worker_concurrency": 2, **figures}


def _child(ctx: BenchContext, worker_pid: int) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "bench.bench_workflows", "measure"], cwd=ROOT,
                            env={**ctx.env, "WORKFLOWS_MAX_STEPS": str(DAG_STEPS), "CELERY_TASK_ALWAYS_EAGER": "false",
                                 "BENCH_WORKER_PID": str(worker_pid)},
                            capture_output=True, text=True, timeout=1200)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _wait_ended(run_ids: list[str], timeout: float) -> None:
    from apps.workflows.models import Run

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Run.objects.filter(pk__in=run_ids, status__in=["completed", "failed", "cancelled"]).count() == len(run_ids):
            return
        time.sleep(0.02)
    raise RuntimeError("runs did not end in time")


def _worker_cpu(pid: int) -> float:
    """CPU seconds (user + system) of the worker and its pool processes so far."""
    import psutil

    parent = psutil.Process(pid)
    total = 0.0
    for process in [parent, *parent.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _measure() -> dict[str, Any]:
    import os

    from django.contrib.auth import get_user_model

    from apps.workflows import services
    from apps.workflows.models import Run, StepRun

    user = get_user_model().objects.create_user(email=f"workflows-bench-{time.time_ns()}@example.com", password="x-bench-pass-123")
    chain = [{"name": f"s{i}", "kind": "condition", "config": {"expression": "true"}, "depends_on": [i - 1] if i else []}
             for i in range(DAG_STEPS)]
    dag, _secret = services.workflow_create(user=user, name="bench chain", steps=chain)
    worker_pid = int(os.environ["BENCH_WORKER_PID"])
    walls: list[float] = []
    busy: list[float] = []
    cpu: list[float] = []
    first_run = 0.0
    for attempt in range(DAG_RUNS + 1):
        cpu_before = _worker_cpu(worker_pid)
        run, _ = services.run_start(user=user, workflow=dag)
        _wait_ended([str(run.pk)], timeout=300)
        run.refresh_from_db()
        assert run.status == "completed", run.error
        wall = (run.finished_at - run.created_at).total_seconds()
        if attempt == 0:
            first_run = wall
            continue
        cpu.append(_worker_cpu(worker_pid) - cpu_before)
        busy.append(sum((s.finished_at - s.started_at).total_seconds() for s in StepRun.objects.filter(run=run)))
        walls.append(wall)
    diamond = [{"name": "a", "kind": "condition", "config": {"expression": "true"}},
               {"name": "b", "kind": "condition", "config": {"expression": "true"}, "depends_on": [0]},
               {"name": "c", "kind": "condition", "config": {"expression": "true"}, "depends_on": [0]},
               {"name": "d", "kind": "condition", "config": {"expression": "steps.b and steps.c"}, "depends_on": [1, 2]}]
    small, _secret = services.workflow_create(user=user, name="bench diamond", steps=diamond)
    started = time.monotonic()
    run_ids = [str(services.run_start(user=user, workflow=small)[0].pk) for _ in range(CONCURRENT_RUNS)]
    _wait_ended(run_ids, timeout=600)
    elapsed = time.monotonic() - started
    runs = list(Run.objects.filter(pk__in=run_ids))
    latencies = [(r.finished_at - r.created_at).total_seconds() for r in runs]
    return {
        "dag50": {"steps": DAG_STEPS, "runs": DAG_RUNS, "overhead_s_median": round(statistics.median(walls), 3),
                  "overhead_s_all": [round(w, 3) for w in walls], "first_run_s": round(first_run, 3),
                  "overhead_per_step_ms": round(statistics.median(walls) / DAG_STEPS * 1000, 1),
                  "busy_s_median": round(statistics.median(busy), 3),
                  "worker_cpu_ms_per_step": round(statistics.median(cpu) / DAG_STEPS * 1000, 2)},
        "concurrent": {"runs": CONCURRENT_RUNS, "completed": sum(r.status == "completed" for r in runs),
                       "seconds": round(elapsed, 2), "runs_per_second": round(CONCURRENT_RUNS / elapsed, 1),
                       "run_latency": percentiles(latencies)},
    }


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    django.setup()
    print(json.dumps(_measure()))
