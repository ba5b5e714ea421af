"""Assistant Architect: input limits, execution timeout, heartbeats, the stale-execution reaper."""
from __future__ import annotations

from .environment import env

__all__ = [
    "ARCHITECT_EXECUTION_TIMEOUT_SECONDS",
    "ARCHITECT_HEARTBEAT_SECONDS",
    "ARCHITECT_MAX_ATTEMPTS",
    "ARCHITECT_MAX_INPUT_BYTES",
    "ARCHITECT_MAX_INPUT_FIELDS",
    "ARCHITECT_STALE_SECONDS",
]

ARCHITECT_MAX_INPUT_BYTES = env.int("ARCHITECT_MAX_INPUT_BYTES", default=100 * 1024)
ARCHITECT_MAX_INPUT_FIELDS = env.int("ARCHITECT_MAX_INPUT_FIELDS", default=50)
# An execution stops (execution_failed, EXECUTION_TIMEOUT) this long after it was started.
ARCHITECT_EXECUTION_TIMEOUT_SECONDS = env.int("ARCHITECT_EXECUTION_TIMEOUT_SECONDS", default=900)
# The running worker renews the execution's heartbeat this often; older than STALE means its worker vanished.
ARCHITECT_HEARTBEAT_SECONDS = env.float("ARCHITECT_HEARTBEAT_SECONDS", default=10.0)
ARCHITECT_STALE_SECONDS = env.float("ARCHITECT_STALE_SECONDS", default=60.0)
# Runs of one execution (first + re-queues by the reaper) before it is failed with WORKER_LOST.
ARCHITECT_MAX_ATTEMPTS = env.int("ARCHITECT_MAX_ATTEMPTS", default=2)
