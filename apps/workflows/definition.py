"""A workflow's definition: the checks made on save, and `{{...}}` references resolved at run time.

A leaf module: services (on save) and the runner (at run time) both use it.
"""
from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings
from jsonschema import Draft202012Validator

from apps.core.outbound import OutboundUrlRefused, outbound_url_check

# Kinds this server runs (every kind of the contract).
AVAILABLE_KINDS = ("llm", "condition", "knowledge_search", "http", "architect", "agent_task")
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"
DEFAULT_TIMEOUT = 60
MAX_TIMEOUT = 3600
REFERENCE = re.compile(r"\{\{\s*(input|steps)\.([A-Za-z0-9_-]+)(?:\.(output))?\s*\}\}")

_text = {"type": "string", "minLength": 1, "maxLength": 20000}
CONFIG_SCHEMAS: dict[str, dict[str, Any]] = {
    "llm": {
        "type": "object", "required": ["model_id", "prompt"], "additionalProperties": False,
        "properties": {"model_id": {"type": "string", "minLength": 1, "maxLength": 200}, "prompt": _text,
                       "system_prompt": {"type": "string", "maxLength": 20000},
                       "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                       "max_tokens": {"type": "integer", "minimum": 1, "maximum": 100000}},
    },
    "architect": {
        "type": "object", "required": ["tool_id"], "additionalProperties": False,
        "properties": {"tool_id": {"type": "string", "format": "uuid", "minLength": 1},
                       "inputs": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}},
    },
    "knowledge_search": {
        "type": "object", "required": ["query"], "additionalProperties": False,
        "properties": {"query": _text, "repository_ids": {"type": "array", "items": {"type": "string"}, "maxItems": 50},
                       "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                       "mode": {"enum": ["hybrid", "vector", "keyword"]}},
    },
    "agent_task": {
        "type": "object", "required": ["agent_id", "input"], "additionalProperties": False,
        "properties": {"agent_id": {"type": "string", "minLength": 1}, "skill_id": {"type": "string"},
                       "input": {"type": ["string", "object"]}},
    },
    "http": {
        "type": "object", "required": ["method", "url"], "additionalProperties": False,
        "properties": {"method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]},
                       "url": {"type": "string", "minLength": 1, "maxLength": 2000},
                       "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                       "body": {}},
    },
    "condition": {
        "type": "object", "required": ["expression"], "additionalProperties": False,
        "properties": {"expression": {"type": "string", "minLength": 1, "maxLength": 1000}},
    },
}
STEP_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["name", "kind", "config"], "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": NAME_PATTERN},
        "kind": {"enum": list(CONFIG_SCHEMAS)},
        "config": {"type": "object"},
        "depends_on": {"type": "array", "items": {"type": "integer"}, "uniqueItems": True},
        "timeout": {"type": "integer", "minimum": 1, "maximum": MAX_TIMEOUT},
        "retry_policy": {
            "type": "object", "additionalProperties": False,
            "properties": {"max_retries": {"type": "integer", "minimum": 0, "maximum": 10},
                           "backoff_ms": {"type": "integer", "minimum": 0, "maximum": 600000}},
        },
    },
}


def _path(prefix: str, parts: Any) -> str:
    return ".".join([prefix, *(str(p) for p in parts)])


def _schema_errors(schema: dict[str, Any], value: Any, prefix: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).iter_errors(value):
        errors.setdefault(_path(prefix, error.absolute_path), []).append(error.message)
    return errors


def ancestors(steps: list[dict[str, Any]], index: int) -> set[int]:
    """Indices of every step `index` depends on, directly or not."""
    seen: set[int] = set()
    todo = list(steps[index].get("depends_on") or [])
    while todo:
        parent = todo.pop()
        if parent not in seen and 0 <= parent < index:
            seen.add(parent)
            todo.extend(steps[parent].get("depends_on") or [])
    return seen


def steps_errors(steps: Any) -> dict[str, list[str]]:
    """Field errors of a step list (empty when valid): shape, per-kind config, graph and references."""
    most = settings.WORKFLOWS_MAX_STEPS
    if not isinstance(steps, list):
        return {"steps": ["A list of steps is required."]}
    if not 1 <= len(steps) <= most:
        return {"steps": [f"A workflow has 1 to {most} steps."]}
    errors: dict[str, list[str]] = {}
    names: dict[str, int] = {}
    for index, step in enumerate(steps):
        prefix = f"steps.{index}"
        shape = _schema_errors(STEP_SCHEMA, step, prefix)
        if shape:
            errors.update(shape)
            continue
        errors.update(_schema_errors(CONFIG_SCHEMAS[step["kind"]], step["config"], f"{prefix}.config"))
        if step["kind"] not in AVAILABLE_KINDS:
            errors.setdefault(f"{prefix}.kind", []).append(f"Steps of kind {step['kind']!r} are not available on this server yet.")
        if step["name"] in names:
            errors.setdefault(f"{prefix}.name", []).append(f"Step names must be unique ({step['name']!r} is step {names[step['name']]}).")
        else:
            names[step["name"]] = index
        for parent in step.get("depends_on") or []:
            if not 0 <= parent < index:
                errors.setdefault(f"{prefix}.depends_on", []).append(
                    f"{parent} is not an earlier step; depends_on holds 0-based indices of earlier steps only.")
    if errors:
        return errors
    for index, step in enumerate(steps):
        reachable = {steps[i]["name"] for i in ancestors(steps, index)}
        for where, text in _strings(step["config"], f"steps.{index}.config"):
            for match in REFERENCE.finditer(text):
                scope, name, output = match.groups()
                if scope == "steps" and (name not in reachable or output is None):
                    errors.setdefault(where, []).append(
                        f"{match.group(0)} must name a step this one depends on, as {{{{steps.<name>.output}}}}.")
        if step["kind"] == "http" and not REFERENCE.search(step["config"]["url"]):
            # Checked on save like an agent's endpoint (and again at call time, on the resolved address).
            try:
                outbound_url_check(step["config"]["url"], field=f"steps.{index}.config.url")
            except OutboundUrlRefused as exc:
                errors.update(exc.details or {})
        if step["kind"] == "condition":
            from .expressions import expression_error

            problem = expression_error(step["config"]["expression"])
            if problem:
                errors.setdefault(f"steps.{index}.config.expression", []).append(problem)
    return errors


def _strings(value: Any, where: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, dict):
        return [item for key, child in value.items() for item in _strings(child, f"{where}.{key}")]
    if isinstance(value, list):
        return [item for i, child in enumerate(value) for item in _strings(child, f"{where}.{i}")]
    return []


def normalized(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Valid steps with their defaults written out (depends_on, timeout, retry_policy)."""
    return [{
        "name": step["name"], "kind": step["kind"], "config": step["config"],
        "depends_on": sorted(step.get("depends_on") or []),
        "timeout": int(step.get("timeout") or DEFAULT_TIMEOUT),
        "retry_policy": {"max_retries": int((step.get("retry_policy") or {}).get("max_retries", 0)),
                         "backoff_ms": int((step.get("retry_policy") or {}).get("backoff_ms", 1000))},
    } for step in steps]


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def resolve(value: Any, *, run_input: dict[str, Any], outputs: dict[str, Any]) -> Any:
    """`value` with its `{{input.x}}` and `{{steps.<name>.output}}` references replaced.

    A string that is exactly one reference takes the referenced value as is (an object stays an object).
    """
    if isinstance(value, dict):
        return {key: resolve(child, run_input=run_input, outputs=outputs) for key, child in value.items()}
    if isinstance(value, list):
        return [resolve(child, run_input=run_input, outputs=outputs) for child in value]
    if not isinstance(value, str):
        return value

    def lookup(match: re.Match[str]) -> Any:
        scope, name, _ = match.groups()
        return (run_input or {}).get(name, "") if scope == "input" else outputs.get(name, "")

    whole = REFERENCE.fullmatch(value.strip())
    if whole:
        return lookup(whole)
    return REFERENCE.sub(lambda m: _as_text(lookup(m)), value)
