"""Platform tools: how long the waiting tools wait, fetch_url's bounds."""
from __future__ import annotations

from .environment import env

__all__ = ["TOOLS_FETCH_MAX_BYTES", "TOOLS_FETCH_TIMEOUT_SECONDS", "TOOLS_POLL_SECONDS", "TOOLS_WAIT_SECONDS"]

# run_workflow, call_agent and run_architect_tool wait this long for the run to end, then answer its id and status.
TOOLS_WAIT_SECONDS = env.float("TOOLS_WAIT_SECONDS", default=60.0)
TOOLS_POLL_SECONDS = env.float("TOOLS_POLL_SECONDS", default=0.25)
# fetch_url reads at most this many bytes of a page (API.md: 1 MB) and gives up after the timeout.
TOOLS_FETCH_MAX_BYTES = env.int("TOOLS_FETCH_MAX_BYTES", default=1024 * 1024)
TOOLS_FETCH_TIMEOUT_SECONDS = env.float("TOOLS_FETCH_TIMEOUT_SECONDS", default=15.0)
