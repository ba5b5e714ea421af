"""Where the project lives and how settings read the environment (django-environ)."""
from __future__ import annotations

from pathlib import Path

import environ

__all__ = ["APPS_DIR", "BASE_DIR", "NEXUS_VERSION", "env"]

BASE_DIR = Path(__file__).resolve().parent.parent.parent
APPS_DIR = BASE_DIR / "apps"

env = environ.Env()
# A local .env is read when present (never committed); the process environment wins.
if (BASE_DIR / ".env").exists():
    env.read_env(str(BASE_DIR / ".env"), overwrite=False)

NEXUS_VERSION = "0.1.0"
