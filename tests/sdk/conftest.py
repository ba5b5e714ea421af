"""SDK fixtures: the SDK imported from this checkout, callers with keys, and clients on a live daphne."""
from __future__ import annotations

import sys
from pathlib import Path

# Test the SDK source of this checkout, even where an older nexus-sdk is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sdk" / "python"))

from tests.chat.conftest import Caller, caller, make_caller  # noqa: E402,F401  (fixtures re-exported)
from tests.llm.conftest import (  # noqa: E402,F401
    FakeModels,
    committed_db,
    fake_llm,
    fake_llm_server,
    fake_models,
    fresh_llm_state,
)
