"""Chat fixtures: the fake provider and its models (from the llm tests), keys, an SSE reader."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from apps.accounts import services as account_services
from tests.factories import UserFactory
from tests.llm.conftest import (  # noqa: F401  (fixtures re-exported for the chat tests)
    FakeModels,
    committed_db,
    fake_llm,
    fake_llm_server,
    fake_models,
    fresh_llm_state,
)


@dataclass
class Caller:
    """A user and a full-access API key for calling a live server."""

    user: Any
    key: str

    @property
    def headers(self) -> dict[str, str]:
        """Authorization headers."""
        return {"Authorization": f"Bearer {self.key}"}


def make_caller(scopes: list[str] | None = None) -> Caller:
    """A new user with an API key."""
    user = UserFactory()
    _key, raw = account_services.api_key_create(user=user, name="test", scopes=scopes or ["*"])
    return Caller(user=user, key=raw)


@pytest.fixture
def caller(fake_models: FakeModels) -> Caller:  # noqa: F811  (the fixture imported above)
    """A user (committed, with the default role and tier) and their API key."""
    return make_caller()


@dataclass
class SseEvent:
    """One parsed Server-Sent Event."""

    id: str | None
    event: str | None
    data: dict[str, Any]


@dataclass
class SseReader:
    """Reads events from a streaming httpx response."""

    response: httpx.Response
    events: list[SseEvent] = field(default_factory=list)
    _lines: Iterator[str] | None = None

    def next(self) -> SseEvent | None:
        """The next event, or None when the stream ends."""
        if self._lines is None:
            self._lines = self.response.iter_lines()
        current: dict[str, str] = {}
        for line in self._lines:
            if line.startswith(":"):
                continue
            if not line:
                if "data" in current:
                    event = SseEvent(id=current.get("id"), event=current.get("event"), data=json.loads(current["data"]))
                    self.events.append(event)
                    return event
                current = {}
                continue
            name, _, value = line.partition(":")
            current[name] = value[1:] if value.startswith(" ") else value
        return None

    def until(self, predicate: Any) -> list[SseEvent]:
        """Events up to and including the first that matches."""
        got = []
        while (event := self.next()) is not None:
            got.append(event)
            if predicate(event):
                break
        return got

    def rest(self) -> list[SseEvent]:
        """Every remaining event."""
        return self.until(lambda _event: False)
