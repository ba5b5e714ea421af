"""Condition steps: a small safe expression language (simpleeval), never Python's eval."""
from __future__ import annotations

from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression

# Functions a condition may call; nothing that touches the system.
FUNCTIONS = {"len": len, "str": str, "int": int, "float": float, "bool": bool, "lower": lambda s: str(s).lower(),
             "contains": lambda haystack, needle: needle in haystack}


def _evaluator(names: dict[str, Any]) -> EvalWithCompoundTypes:
    evaluator = EvalWithCompoundTypes(names=names, functions=FUNCTIONS)
    return evaluator


def expression_error(expression: str) -> str | None:
    """Why `expression` cannot be parsed (None when it can)."""
    try:
        _evaluator({}).parse(expression)
    except (SyntaxError, InvalidExpression, ValueError) as exc:
        return f"Not a valid expression: {exc}"
    return None


def expression_evaluate(expression: str, *, run_input: dict[str, Any], outputs: dict[str, Any]) -> bool:
    """The truth of `expression` over `input` (the run input) and `steps` (earlier outputs by step name)."""
    return bool(_evaluator({"input": run_input or {}, "steps": outputs, "true": True, "false": False, "null": None}).eval(expression))
