"""Workflows: the scheduler's heartbeat and reaper, HTTP steps."""
from __future__ import annotations

from .environment import env

__all__ = ["WORKFLOWS_EXTERNAL_POLL_SECONDS", "WORKFLOWS_HEARTBEAT_SECONDS", "WORKFLOWS_HTTP_MAX_BYTES", "WORKFLOWS_MAX_STEPS",
           "WORKFLOWS_STALE_SECONDS"]

# A running step's worker renews its heartbeat this often; older than STALE means the worker died and the
# reaper queues the same attempt again (idempotent: its credit hold is found again, never charged twice).
WORKFLOWS_HEARTBEAT_SECONDS = env.float("WORKFLOWS_HEARTBEAT_SECONDS", default=5.0)
WORKFLOWS_STALE_SECONDS = env.float("WORKFLOWS_STALE_SECONDS", default=60.0)
# Steps of one workflow (API.md: 20; the benchmark raises it for its 50-step DAG).
WORKFLOWS_MAX_STEPS = env.int("WORKFLOWS_MAX_STEPS", default=20)
# The most an HTTP step reads of a response (API.md: 1 MB); more fails the step with RESPONSE_TOO_LARGE.
WORKFLOWS_HTTP_MAX_BYTES = env.int("WORKFLOWS_HTTP_MAX_BYTES", default=1_048_576)
# How often a step that started an architect execution or an agent task looks whether it has ended.
WORKFLOWS_EXTERNAL_POLL_SECONDS = env.float("WORKFLOWS_EXTERNAL_POLL_SECONDS", default=0.25)
