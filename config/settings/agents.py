"""Agents: the outbound-URL rule, heartbeats, task timeouts and the stale-task reaper, the A2A gateway."""
from __future__ import annotations

from .environment import env

__all__ = [
    "AGENTS_GATEWAY_WAIT_SECONDS",
    "AGENTS_HEARTBEAT_OFFLINE_SECONDS",
    "AGENTS_INPUT_REQUIRED_TTL_SECONDS",
    "AGENTS_TASK_DEFAULT_TIMEOUT_SECONDS",
    "AGENTS_TASK_HEARTBEAT_SECONDS",
    "AGENTS_TASK_MAX_ATTEMPTS",
    "AGENTS_TASK_MAX_TIMEOUT_SECONDS",
    "AGENTS_TASK_STALE_SECONDS",
    "ALLOWED_PRIVATE_NETWORKS",
]

# Calls to user-supplied URLs never reach non-public addresses, except in these ranges (comma-separated CIDRs).
ALLOWED_PRIVATE_NETWORKS = env.list("ALLOWED_PRIVATE_NETWORKS", default=[])
# An agent whose last heartbeat is older than this is marked offline by the beat sweep.
AGENTS_HEARTBEAT_OFFLINE_SECONDS = env.int("AGENTS_HEARTBEAT_OFFLINE_SECONDS", default=300)
# A task's `timeout_seconds` when the request gives none, and the most it may ask for.
AGENTS_TASK_DEFAULT_TIMEOUT_SECONDS = env.int("AGENTS_TASK_DEFAULT_TIMEOUT_SECONDS", default=300)
AGENTS_TASK_MAX_TIMEOUT_SECONDS = env.int("AGENTS_TASK_MAX_TIMEOUT_SECONDS", default=3600)
# The worker forwarding a task renews its heartbeat this often; older than STALE means the worker died.
AGENTS_TASK_HEARTBEAT_SECONDS = env.float("AGENTS_TASK_HEARTBEAT_SECONDS", default=5.0)
AGENTS_TASK_STALE_SECONDS = env.float("AGENTS_TASK_STALE_SECONDS", default=30.0)
# Forwarding runs of one turn (first + re-queues by the reaper) before the task fails with WORKER_LOST.
AGENTS_TASK_MAX_ATTEMPTS = env.int("AGENTS_TASK_MAX_ATTEMPTS", default=2)
# A task left waiting for the requester's reply this long is timed out (its hold released).
AGENTS_INPUT_REQUIRED_TTL_SECONDS = env.int("AGENTS_INPUT_REQUIRED_TTL_SECONDS", default=86400)
# The A2A gateway's message/send waits this long for the task to finish before answering its current state.
AGENTS_GATEWAY_WAIT_SECONDS = env.float("AGENTS_GATEWAY_WAIT_SECONDS", default=60.0)
