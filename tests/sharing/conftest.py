"""Sharing fixtures: the fake provider and its models (from the llm tests), for the chat page's Share action."""
from tests.llm.conftest import (  # noqa: F401  (fixtures re-exported for the sharing tests)
    FakeModels,
    committed_db,
    fake_llm,
    fake_llm_server,
    fake_models,
    fresh_llm_state,
)
