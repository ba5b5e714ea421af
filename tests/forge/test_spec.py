"""The rules without the database: config choices, the specification schema, file checks with real parsers, fences."""
from __future__ import annotations

import copy

from apps.forge.spec import config_errors, file_check, spec_errors, strip_fence

from .conftest import APP_JS, INDEX_HTML, SPEC


def test_config_choices() -> None:
    assert config_errors(None) == {} and config_errors({"stack": "static-api", "styling": "dark"}) == {}
    assert set(config_errors({"stack": "rails", "theme": "x"})) == {"config.stack", "config.theme"}
    assert config_errors(["static"]) == {"config": ["Must be an object {stack?, styling?}."]}


def test_specification_rules() -> None:
    assert spec_errors(SPEC, max_files=12, stack="static") == []
    missing = {k: v for k, v in SPEC.items() if k != "data_model"}
    assert any("data_model" in e for e in spec_errors(missing, max_files=12, stack="static"))
    too_many = {**SPEC, "files": [{"path": f"f{i}.js", "purpose": "x"} for i in range(13)]}
    assert spec_errors(too_many, max_files=12, stack="static")
    for path in ["../etc/passwd", "/abs.html", "a//b.js", "run.exe", "x..y/../z.js"]:
        bad = copy.deepcopy(SPEC)
        bad["files"].append({"path": path, "purpose": "x"})
        assert spec_errors(bad, max_files=12, stack="static"), path
    no_index = {**SPEC, "files": [{"path": "app.js", "purpose": "x"}]}
    assert spec_errors(no_index, max_files=12, stack="static") == ["files: the app needs an index.html at its root."]
    with_backend = {**SPEC, "files": [*SPEC["files"], {"path": "server.py", "purpose": "API"}]}
    assert spec_errors(with_backend, max_files=12, stack="static") and not spec_errors(with_backend, max_files=12, stack="static-api")
    assert spec_errors("not an object", max_files=12, stack="static")


def test_file_checks_use_real_parsers() -> None:
    assert file_check("index.html", INDEX_HTML) is None and file_check("app.js", APP_JS) is None
    assert file_check("a.html", "<div><p>one<p>two</div>") is None  # optional end tags are fine
    assert "<div> is not closed" in (file_check("a.html", "<html><body><div>open</body></html>") or "")
    assert "never closed" in (file_check("a.html", "<main><section>open") or "")
    assert "closes nothing" in (file_check("a.html", "<main></section></main>") or "")
    assert file_check("a.html", "just text") == "HTML: no elements."
    assert file_check("x.js", "export const a = 1;\n") is None  # modules parse too
    assert (file_check("x.js", "function (") or "").startswith("JavaScript:")
    assert file_check("d.json", '{"a": 1}') is None and (file_check("d.json", "{a: 1}") or "").startswith("JSON:")
    assert file_check("s.py", "def f():\n    return 1\n") is None and (file_check("s.py", "def f(:\n") or "").startswith("Python:")
    assert file_check("s.css", "a { b: c; }") is None and file_check("s.css", "a { b: c;") == "CSS: a '{' is never closed."
    assert file_check("e.js", "  \n") == "The file is empty."


def test_fences_are_stripped_and_files_end_with_one_newline() -> None:
    assert strip_fence("```html\n<p>x</p>\n```") == "<p>x</p>\n"
    assert strip_fence("```\nplain\n```\n") == "plain\n"
    assert strip_fence("\n\nbody\n\n\n") == "body\n"
    assert strip_fence("") == ""
