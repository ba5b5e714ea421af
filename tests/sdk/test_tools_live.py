"""The SDK's tools section and chat's `tools` parameter against a live daphne and the fake provider."""
from __future__ import annotations

from typing import Any

import pytest
from nexus_sdk import Forbidden, NexusClient, NotFound, ValidationError

from tests.tools.conftest import knowledge_repository

from .conftest import Caller, make_caller

pytestmark = pytest.mark.live


def test_tools_list_call_and_a_chat_with_tools(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:
    repository = knowledge_repository(caller.user)
    with NexusClient(daphne_server.url, caller.key) as client:
        names = {tool["name"] for tool in client.tools.list()}
        assert names == {"search_knowledge", "run_architect_tool", "run_workflow", "call_agent", "fetch_url"}
        answer = client.tools.call("search_knowledge", arguments={"query": "vacation", "repository_ids": [str(repository.pk)]})
        assert answer["result"]["results"][0]["content"] == "Employees get 25 days of paid vacation per year."
        with pytest.raises(ValidationError) as bad:
            client.tools.call("search_knowledge", arguments={"limit": 3})
        assert "query" in bad.value.details
        with pytest.raises(NotFound):
            client.tools.call("no_such_tool", arguments={})

        fake_llm.script_tool("vacation policy", ("search_knowledge", {"query": "vacation", "repository_ids": [str(repository.pk)]}))
        fake_llm.script("vacation policy", lambda texts: "25 days [1]." if "25 days" in texts else "Nothing.")
        events = list(client.chat.stream(messages=[{"role": "user", "content": "vacation policy?"}], model_id="fake-anthropic",
                                         tools=["search_knowledge"], max_tool_rounds=2))
        assert [e.type for e in events if e.type.startswith("tool-")] == ["tool-call", "tool-result"]
        assert "".join(e.content for e in events if e.type == "text-delta") == "25 days [1]."

    with NexusClient(daphne_server.url, make_caller(scopes=["chat"]).key) as chat_only:
        assert [tool["name"] for tool in chat_only.tools.list()] == ["fetch_url"]
        with pytest.raises(Forbidden):
            chat_only.tools.call("search_knowledge", arguments={"query": "vacation"})
