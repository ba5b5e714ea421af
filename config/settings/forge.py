"""Forge (one-shot app builder): model, limits per tier, pipeline timings, the reaper, deployed apps."""
from __future__ import annotations

from .environment import env

__all__ = [
    "FORGE_APPS_CSP",
    "FORGE_BUILD_TIMEOUT_SECONDS",
    "FORGE_CHROMIUM_PATH",
    "FORGE_HEARTBEAT_SECONDS",
    "FORGE_IMAGE_MODEL",
    "FORGE_MAX_FILES",
    "FORGE_MAX_MOCKUPS",
    "FORGE_MAX_PROMPT_CHARS",
    "FORGE_MAX_SCREENSHOTS",
    "FORGE_MODEL",
    "FORGE_PARALLEL_FILES",
    "FORGE_SCREENSHOTS",
    "FORGE_SCREENSHOT_TIMEOUT_SECONDS",
    "FORGE_STALE_SECONDS",
    "FORGE_TIER_LIMITS",
]

# The model every phase uses (a registry name); empty: the best chat model the user's tier allows.
FORGE_MODEL = env("FORGE_MODEL", default="")
# Mockups (one image per page of the specification) from a registry model with the `image` capability:
# FORGE_IMAGE_MODEL, else the first such model the user's tier allows; none: no mockups.
FORGE_IMAGE_MODEL = env("FORGE_IMAGE_MODEL", default="")
FORGE_MAX_MOCKUPS = env.int("FORGE_MAX_MOCKUPS", default=4)
FORGE_MAX_PROMPT_CHARS = env.int("FORGE_MAX_PROMPT_CHARS", default=10_000)
# Files a specification may ask for, and how many are generated at once.
FORGE_MAX_FILES = env.int("FORGE_MAX_FILES", default=12)
FORGE_PARALLEL_FILES = env.int("FORGE_PARALLEL_FILES", default=4)
# A build ends `failed` (BUILD_TIMEOUT) this long after its worker started it.
FORGE_BUILD_TIMEOUT_SECONDS = env.int("FORGE_BUILD_TIMEOUT_SECONDS", default=900)
# The worker renews a running build's heartbeat this often; older than STALE means its worker died.
FORGE_HEARTBEAT_SECONDS = env.float("FORGE_HEARTBEAT_SECONDS", default=5.0)
FORGE_STALE_SECONDS = env.float("FORGE_STALE_SECONDS", default=60.0)
# Builds per clock hour and builds running at once, per tier slug (a tier not listed gets `free`'s).
FORGE_TIER_LIMITS = {
    "free": {"builds_per_hour": env.int("FORGE_FREE_BUILDS_PER_HOUR", default=5), "concurrent": 1},
    "pro": {"builds_per_hour": env.int("FORGE_PRO_BUILDS_PER_HOUR", default=30), "concurrent": 3},
    "enterprise": {"builds_per_hour": env.int("FORGE_ENTERPRISE_BUILDS_PER_HOUR", default=200), "concurrent": 10},
}
# Screenshots of each built app's pages in headless Chromium (skipped when no Chromium is found).
FORGE_SCREENSHOTS = env.bool("FORGE_SCREENSHOTS", default=True)
FORGE_CHROMIUM_PATH = env("CHROMIUM_PATH", default="/usr/bin/chromium")
FORGE_MAX_SCREENSHOTS = env.int("FORGE_MAX_SCREENSHOTS", default=4)
FORGE_SCREENSHOT_TIMEOUT_SECONDS = env.float("FORGE_SCREENSHOT_TIMEOUT_SECONDS", default=45.0)
# What a deployed app (/apps/<slug>/) may do: `sandbox` without allow-same-origin gives it an opaque
# origin, so it can neither read the platform's cookies nor call its API with the visitor's session.
FORGE_APPS_CSP = env(
    "FORGE_APPS_CSP",
    default=("sandbox allow-scripts allow-forms allow-popups allow-modals; default-src 'self'; "
             "script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
             "font-src 'self' data:; connect-src 'none'; frame-ancestors 'self'; form-action 'none'; base-uri 'none'"),
)
