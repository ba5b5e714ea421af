"""Chat with platform tools through a real daphne and each adapter's native function calling against the fake."""
from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from apps.chat.models import Message
from apps.llm.models import UsageRecord

from .conftest import Caller, SseReader, knowledge_repository, make_caller

pytestmark = pytest.mark.live

CITED = "You get 25 days of paid vacation per year [1]."


def _chat(client: httpx.Client, server: Any, caller: Caller, content: str, model: str = "fake-openai", **extra: Any) -> Any:
    body = {"messages": [{"role": "user", "content": content}], "model_id": model, **extra}
    return client.stream("POST", f"{server.url}/api/v1/chat", json=body, headers=caller.headers)


def _cite(texts: str) -> str:
    # The fake "model" answers from what the tool gave it, and says so when it got nothing.
    return CITED if "25 days of paid vacation" in texts else "I found nothing about that."


def _offered_tool_names(kind: str, body: dict[str, Any]) -> list[str]:
    """The tool names a request offered, read from each vendor's own function-calling field."""
    if kind == "openai":
        return [tool["function"]["name"] for tool in body["tools"]]
    if kind == "anthropic":
        return [tool["name"] for tool in body["tools"]]
    return [declaration["name"] for tool in body["tools"] for declaration in tool["functionDeclarations"]]


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini"])
def test_chat_calls_search_knowledge_and_cites_what_it_found(kind: str, caller: Caller, daphne_server: Any, fake_llm: Any) -> None:
    repository = knowledge_repository(caller.user)
    fake_llm.script_tool("vacation policy", ("search_knowledge", {"query": "paid vacation days", "repository_ids": [str(repository.pk)]}))
    fake_llm.script("vacation policy", _cite)
    with httpx.Client(timeout=60) as client, _chat(client, daphne_server, caller, "What is our vacation policy?", model=f"fake-{kind}",
                                                   tools=["search_knowledge"]) as response:
        assert response.status_code == 200, response.read()
        conversation_id = response.headers["x-conversation-id"]
        events = SseReader(response).rest()
    types = [event.data["type"] for event in events]
    assert types[-1] == "finish" and events[-1].data["status"] == "complete", events[-1].data
    call = next(event.data for event in events if event.data["type"] == "tool-call")
    result = next(event.data for event in events if event.data["type"] == "tool-result")
    assert call["tool_name"] == "search_knowledge" and call["args"]["query"] == "paid vacation days" and call["call_id"]
    assert result["call_id"] == call["call_id"] and result["tool_name"] == "search_knowledge"
    assert result["result"]["results"][0]["content"] == "Employees get 25 days of paid vacation per year."
    assert types.index("tool-call") < types.index("tool-result") < types.index("text-delta")
    text = "".join(event.data["content"] for event in events if event.data["type"] == "text-delta")
    assert text == CITED

    # Native function calling: the first request offered the tool in the vendor's own field, the second
    # carried the tool's result back, and the model's answer came from it.
    first, second = [entry for entry in fake_llm.log if entry.api == kind]
    assert _offered_tool_names(kind, first.body) == ["search_knowledge"]
    assert first.tool_results == [] and any("25 days of paid vacation" in r for r in second.tool_results)

    # Stored with the reply, so a reload shows the call and its result.
    messages = httpx.get(f"{daphne_server.url}/api/v1/conversations/{conversation_id}/messages", headers=caller.headers).json()["results"]
    reply = messages[-1]
    assert reply["role"] == "assistant" and reply["content"] == CITED
    assert reply["tool_calls"][0]["name"] == "search_knowledge" and reply["tool_calls"][0]["id"] == call["call_id"]
    assert reply["tool_calls"][0]["result"]["results"][0]["chunk_id"] == result["result"]["results"][0]["chunk_id"]
    # Both model calls were metered and charged: the reply's usage covers both rounds.
    usage = events[-1].data["usage"]
    records = UsageRecord.objects.filter(user=caller.user, origin="chat", status="completed")
    assert records.count() == 2
    assert usage["total_tokens"] == sum(record.prompt_tokens + record.completion_tokens for record in records)


def test_a_key_without_the_tools_scope_gets_a_forbidden_tool_result_and_the_model_goes_on(
        fake_models: Any, daphne_server: Any, fake_llm: Any) -> None:
    chat_only = make_caller(scopes=["chat"])
    repository = knowledge_repository(chat_only.user)
    fake_llm.script_tool("vacation policy", ("search_knowledge", {"query": "vacation", "repository_ids": [str(repository.pk)]}))
    fake_llm.script("vacation policy", _cite)
    with httpx.Client(timeout=60) as client, _chat(client, daphne_server, chat_only, "What is our vacation policy?",
                                                   tools=["search_knowledge"]) as response:
        assert response.status_code == 200, response.read()
        events = SseReader(response).rest()
    result = next(event.data for event in events if event.data["type"] == "tool-result")
    assert result["error"]["code"] == "FORBIDDEN" and "result" not in result
    assert events[-1].data["type"] == "finish" and events[-1].data["status"] == "complete"
    text = "".join(event.data["content"] for event in events if event.data["type"] == "text-delta")
    assert text == "I found nothing about that."
    assert "FORBIDDEN" in fake_llm.log[-1].tool_results[0]  # the model was told why


def test_another_users_repository_chain_workflow_and_agent_are_not_found_in_tool_results(
        caller: Caller, daphne_server: Any, fake_llm: Any, settings: Any) -> None:
    from apps.agents import services as agents
    from apps.architect import services as architect
    from apps.workflows import services as workflows

    settings.ALLOWED_PRIVATE_NETWORKS = ["127.0.0.1/32"]  # the agent's endpoint is on loopback
    stranger = make_caller()
    secret = knowledge_repository(stranger.user, name="stranger-handbook")
    chain = architect.tool_create(user=stranger.user, name="Stranger chain", status="draft", input_fields=[], prompts=[])
    workflow, _secret = workflows.workflow_create(user=stranger.user, name="Stranger flow",
                                                  steps=[{"name": "gate", "kind": "condition", "config": {"expression": "true"}}])
    agent = agents.agent_create(user=stranger.user, data={"name": "Stranger agent", "description": "A private helper agent.",
                                                         "endpoint": "http://127.0.0.1:9/a2a", "visibility": "private"})
    # One round, four parallel calls (native parallel function calling), each on something of another user.
    fake_llm.script_tool("vacation policy",
                         ("search_knowledge", {"query": "vacation", "repository_ids": [str(secret.pk)]}),
                         ("run_architect_tool", {"tool_id": str(chain.pk), "inputs": {}}),
                         ("run_workflow", {"workflow_id": str(workflow.pk)}),
                         ("call_agent", {"agent_id": str(agent.pk), "input": "hello"}))
    fake_llm.script("vacation policy", _cite)
    tools = ["search_knowledge", "run_architect_tool", "run_workflow", "call_agent"]
    with httpx.Client(timeout=60) as client, _chat(client, daphne_server, caller, "What is our vacation policy?", model="fake-anthropic",
                                                   tools=tools) as response:
        events = SseReader(response).rest()
    results = [event.data for event in events if event.data["type"] == "tool-result"]
    assert [r["tool_name"] for r in results] == tools
    assert [r["error"]["code"] for r in results] == ["NOT_FOUND"] * 4
    raw = json.dumps([event.data for event in events]).lower()
    assert "25 days" not in raw and "stranger" not in raw
    assert events[-1].data["status"] == "complete"
    assert len(fake_llm.log[-1].tool_results) == 4  # every error went back to the model in one turn


def test_fetch_url_to_a_private_address_is_a_tool_error_not_a_500(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:
    fake_llm.script_tool("read the page", ("fetch_url", {"url": "http://169.254.169.254/latest/meta-data/"}))
    with httpx.Client(timeout=60) as client, _chat(client, daphne_server, caller, "Please read the page", model="fake-gemini",
                                                   tools=["fetch_url"]) as response:
        events = SseReader(response).rest()
    result = next(event.data for event in events if event.data["type"] == "tool-result")
    assert result["tool_name"] == "fetch_url" and result["error"]["code"] == "VALIDATION_ERROR"
    assert events[-1].data["type"] == "finish" and events[-1].data["status"] == "complete"


def test_tool_rounds_stop_at_max_tool_rounds(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:
    fake_llm.script_tool("keep searching", ("search_knowledge", {"query": "more"}), rounds=10)
    with httpx.Client(timeout=60) as client, _chat(client, daphne_server, caller, "keep searching", tools=["search_knowledge"],
                                                   max_tool_rounds=2) as response:
        events = SseReader(response).rest()
    results = [event.data for event in events if event.data["type"] == "tool-result"]
    assert [("result" in r) for r in results] == [True, True, False]
    assert results[-1]["error"]["code"] == "CONFLICT"
    assert len(fake_llm.log) == 3 and events[-1].data["status"] == "complete"


def test_unknown_tool_or_too_many_rounds_is_400_before_streaming(caller: Caller, daphne_server: Any) -> None:
    url = f"{daphne_server.url}/api/v1/chat"
    base = {"messages": [{"role": "user", "content": "hi"}], "model_id": "fake-openai"}
    unknown = httpx.post(url, headers=caller.headers, json={**base, "tools": ["format_disk"]}, timeout=30)
    assert unknown.status_code == 400 and "tools" in unknown.json()["error"]["details"]
    too_many = httpx.post(url, headers=caller.headers, json={**base, "tools": ["fetch_url"], "max_tool_rounds": 11}, timeout=30)
    assert too_many.status_code == 400 and "max_tool_rounds" in too_many.json()["error"]["details"]
    assert not Message.objects.filter(conversation__owner=caller.user).exists()


def test_stop_works_while_a_tool_is_running(caller: Caller, daphne_server: Any, fake_llm: Any) -> None:
    from apps.workflows import services as workflows

    # No worker consumes the run in this test, so the tool waits for it (up to TOOLS_WAIT_SECONDS).
    workflow, _secret = workflows.workflow_create(user=caller.user, name="Slow", steps=[{"name": "gate", "kind": "condition",
                                                                                         "config": {"expression": "true"}}])
    fake_llm.script_tool("run my flow", ("run_workflow", {"workflow_id": str(workflow.pk)}))
    with httpx.Client(timeout=60) as client:
        with _chat(client, daphne_server, caller, "run my flow", tools=["run_workflow"]) as response:
            conversation_id = response.headers["x-conversation-id"]
            reader = SseReader(response)
            reader.until(lambda e: e.data["type"] == "tool-call")
            time.sleep(0.5)
            assert client.post(f"{daphne_server.url}/api/v1/conversations/{conversation_id}/stop", headers=caller.headers).status_code == 202
            rest = reader.rest()
    # Without the stop the tool would wait for the run, then the model would answer: the reply is cut short instead.
    assert rest[-1].data["type"] == "finish" and rest[-1].data["status"] == "incomplete"
    reply = Message.objects.get(conversation_id=conversation_id, role="assistant")
    assert reply.status == "incomplete" and reply.usage_record_id is not None
    assert reply.tool_calls == [{"id": reply.tool_calls[0]["id"], "name": "run_workflow", "args": {"workflow_id": str(workflow.pk)},
                                 "stopped": True}]
    assert len(fake_llm.log) == 1  # the model was not called again after the stop
