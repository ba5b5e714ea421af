"""Offline token counting, used only when a provider reports no usage (or a stream was stopped).

No tokenizer is downloaded at run time: the estimate counts words and punctuation the way BPE
vocabularies of current models split English and code (about 4 characters per token, never fewer
tokens than words). It is labelled `estimated` in the usage record.
"""
from __future__ import annotations

import math
import re
from typing import Any

_PIECES = re.compile(r"\w+|[^\w\s]", re.UNICODE)
# Each chat message costs a few tokens of framing (role markers) in every vendor's format.
MESSAGE_OVERHEAD_TOKENS = 4


def estimate_tokens(text: str) -> int:
    """Tokens in `text`, estimated offline."""
    if not text:
        return 0
    pieces = _PIECES.findall(text)
    return max(len(pieces), math.ceil(len(text) / 4))


def message_text(content: Any) -> str:
    """The text of a message's content (a string or a list of text parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def estimate_prompt_tokens(messages: list[dict[str, Any]], system_prompt: str | None = None, tools: list[dict[str, Any]] | None = None) -> int:
    """Tokens of a whole prompt: system prompt, messages with their framing, tool definitions."""
    total = estimate_tokens(system_prompt or "") + (MESSAGE_OVERHEAD_TOKENS if system_prompt else 0)
    for message in messages:
        total += MESSAGE_OVERHEAD_TOKENS + estimate_tokens(message_text(message.get("content")))
        for call in message.get("tool_calls") or ():
            function = call.get("function", {}) if isinstance(call, dict) else {}
            total += estimate_tokens(str(function.get("name", ""))) + estimate_tokens(str(function.get("arguments", "")))
    if tools:
        import json

        total += estimate_tokens(json.dumps(tools))
    return total
