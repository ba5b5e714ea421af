"""Workflows: the scheduler's heartbeat and reaper, HTTP steps."""
from __future__ import annotations

from .environment import env

__all__ = ["WORKFLOWS_HEARTBEAT_SECONDS", "WORKFLOWS_MAX_STEPS", "WORKFLOWS_STALE_SECONDS"]

# A running step's worker renews its heartbeat this often; older than STALE means the worker died and the
# reaper queues the same attempt again (idempotent: its credit hold is found again, never charged twice).
WORKFLOWS_HEARTBEAT_SECONDS = env.float("WORKFLOWS_HEARTBEAT_SECONDS", default=5.0)
WORKFLOWS_STALE_SECONDS = env.float("WORKFLOWS_STALE_SECONDS", default=60.0)
# Steps of one workflow (API.md: 20; the benchmark raises it for its 50-step DAG).
WORKFLOWS_MAX_STEPS = env.int("WORKFLOWS_MAX_STEPS", default=20)
