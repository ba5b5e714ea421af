"""The rules of a chain, without the database: names, references, rendering.

A prompt's content refers to an input field as `{{field}}`, to an earlier prompt's output as
`{{prompt_name}}`, or as `{{prompt_<position>}}` where exactly one prompt holds that position.
Rendering is one pass of plain text substitution: an inserted value is never scanned again, so a
value that itself contains `{{...}}` is inserted as it is, never evaluated.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

REFERENCE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
POSITIONAL = re.compile(r"^prompt_(\d+)$")


def references(text: str) -> list[str]:
    """The `{{names}}` a text refers to, in order, without repeats."""
    return list(dict.fromkeys(REFERENCE.findall(text or "")))


def definition_errors(*, input_fields: list[dict[str, Any]], prompts: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Field-level problems of a chain definition (empty when it is valid).

    Keys name the offending field, e.g. `prompts[1].content`, so a form can show each one inline.
    """
    errors: dict[str, list[str]] = {}

    def add(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    names = Counter([str(f.get("name", "")) for f in input_fields] + [str(p.get("name", "")) for p in prompts])
    for kind, items in (("input_fields", input_fields), ("prompts", prompts)):
        for index, item in enumerate(items):
            name = str(item.get("name", ""))
            if not NAME.match(name):
                add(f"{kind}[{index}].name", "Use letters, digits and _ (not starting with a digit), at most 64 characters.")
            elif POSITIONAL.match(name):
                add(f"{kind}[{index}].name", f"'{name}' is reserved for positional references.")
            elif names[name] > 1:
                add(f"{kind}[{index}].name", f"Duplicate name '{name}': input fields and prompts share one set of names.")

    field_names = {str(f.get("name")) for f in input_fields}
    position_of = {str(p.get("name")): p.get("position") for p in prompts}
    holders = Counter(p.get("position") for p in prompts)
    for index, prompt in enumerate(prompts):
        position = prompt.get("position")
        if not isinstance(position, int) or isinstance(position, bool) or position < 1:
            add(f"prompts[{index}].position", "Must be an integer >= 1.")
            continue
        for field in ("content", "system_prompt"):
            for ref in references(str(prompt.get(field) or "")):
                key = f"prompts[{index}].{field}"
                positional = POSITIONAL.match(ref)
                if ref in field_names:
                    continue
                if positional:
                    target = int(positional.group(1))
                    if holders.get(target, 0) == 0:
                        add(key, f"{{{{{ref}}}}}: no prompt holds position {target}.")
                    elif holders[target] > 1:
                        add(key, f"{{{{{ref}}}}}: {holders[target]} prompts hold position {target}; refer to one by name.")
                    elif target >= position:
                        add(key, f"{{{{{ref}}}}} refers to position {target}, which is not earlier than this prompt's {position}.")
                    continue
                if ref in position_of:
                    named_at = position_of[ref]
                    if isinstance(named_at, int) and named_at >= position:
                        add(key, f"{{{{{ref}}}}} refers to a prompt at position {named_at}, which is not earlier than this prompt's {position}.")
                    continue
                add(key, f"{{{{{ref}}}}} is not an input field or an earlier prompt.")
    return errors


def render(text: str, *, inputs: Mapping[str, Any], outputs: Mapping[str, str], positional: Mapping[int, str]) -> str:
    """`text` with every `{{name}}` replaced by its value (one pass; values are never re-scanned)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in inputs:
            return _as_text(inputs[name])
        if name in outputs:
            return outputs[name]
        found = POSITIONAL.match(name)
        if found and int(found.group(1)) in positional:
            return positional[int(found.group(1))]
        return match.group(0)  # validated away on save; left as typed if the definition changed

    return REFERENCE.sub(value, text or "")


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def positions(prompts: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Prompts grouped by position, in order; each group runs concurrently."""
    groups: dict[int, list[dict[str, Any]]] = {}
    for prompt in prompts:
        groups.setdefault(int(prompt["position"]), []).append(prompt)
    return [groups[key] for key in sorted(groups)]
