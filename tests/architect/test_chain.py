"""The chain rules without the database: references, positions, rendering."""
from __future__ import annotations

from apps.architect.chain import definition_errors, positions, references, render


def _prompt(name: str, position: int, content: str) -> dict:
    return {"name": name, "position": position, "content": content, "system_prompt": ""}


def test_references_are_found_once_in_order() -> None:
    assert references("{{a}} {{ b }} {{a}} {{1x}} {b}") == ["a", "b"]


def test_valid_chain_has_no_errors() -> None:
    fields = [{"name": "topic"}]
    prompts = [_prompt("one", 1, "{{topic}}"), _prompt("two", 2, "{{one}} {{prompt_1}} {{topic}}")]
    assert definition_errors(input_fields=fields, prompts=prompts) == {}


def test_unknown_same_later_and_ambiguous_references() -> None:
    prompts = [_prompt("a", 1, "{{nope}}"), _prompt("b", 1, "{{a}}"), _prompt("c", 2, "{{d}} {{prompt_1}} {{prompt_3}}"),
               _prompt("d", 3, "ok")]
    errors = definition_errors(input_fields=[], prompts=prompts)
    assert "not an input field or an earlier prompt" in errors["prompts[0].content"][0]
    assert "not earlier" in errors["prompts[1].content"][0]
    messages = " ".join(errors["prompts[2].content"])
    assert "position 3, which is not earlier" in messages  # {{d}} is later
    assert "2 prompts hold position 1" in messages
    assert "{{prompt_3}} refers to position 3" in messages


def test_duplicate_and_reserved_names() -> None:
    errors = definition_errors(input_fields=[{"name": "x"}, {"name": "prompt_2"}], prompts=[_prompt("x", 1, "hi"), _prompt("9bad", 1, "hi")])
    assert "Duplicate name 'x'" in errors["input_fields[0].name"][0]
    assert "Duplicate name 'x'" in errors["prompts[0].name"][0]
    assert "reserved" in errors["input_fields[1].name"][0]
    assert "letters" in errors["prompts[1].name"][0]


def test_render_is_plain_substitution_never_evaluated() -> None:
    text = render("Q: {{topic}} / {{one}} / {{prompt_1}} / {{missing}}",
                  inputs={"topic": "{{one}} {% evil %} ${x}"}, outputs={"one": "OUT"}, positional={1: "P1"})
    assert text == "Q: {{one}} {% evil %} ${x} / OUT / P1 / {{missing}}"


def test_positions_group_in_order() -> None:
    groups = positions([_prompt("c", 3, ""), _prompt("a", 1, ""), _prompt("b", 1, "")])
    assert [[p["name"] for p in g] for g in groups] == [["a", "b"], ["c"]]
