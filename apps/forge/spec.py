"""The rules of a build without the database: config choices, the specification schema, file checks, packaging.

A specification is the model's structured output, validated with `jsonschema`; file paths are
checked again here (relative, no `..`, known extensions) because they become storage keys and URLs.
Generated files are checked with real parsers: HTML (`html.parser` plus tag balance), JSON,
Python (`compile`), JavaScript (`esprima`), CSS (balanced braces).
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from html.parser import HTMLParser
from typing import Any

import esprima
import jsonschema

# `config` choices (API.md: "config picks stack and styling from a documented list").
STACKS = {
    "static": "a static front end: HTML, CSS and plain JavaScript, no build step, no backend",
    "static-api": "a static front end (HTML, CSS, plain JavaScript) plus a small Python standard-library JSON API in server.py",
}
STYLINGS = {
    "plain": "clean, plain CSS",
    "modern": "a modern look: cards, soft shadows, rounded corners, a clear type scale",
    "dark": "a dark theme with good contrast",
    "playful": "bright colours and friendly shapes",
}
CONFIG_CHOICES: dict[str, dict[str, str]] = {"stack": STACKS, "styling": STYLINGS}
DEFAULT_CONFIG = {"stack": "static", "styling": "modern"}

EXTENSIONS = {".html": "html", ".htm": "html", ".css": "css", ".js": "javascript", ".mjs": "javascript", ".json": "json",
              ".py": "python", ".md": "markdown", ".txt": "text", ".svg": "svg"}
PATH_PATTERN = r"^[A-Za-z0-9_-][A-Za-z0-9_./-]{0,119}$"


def config_errors(config: Any) -> dict[str, list[str]]:
    """Field errors of a build's `config` (unknown keys and unknown choices)."""
    if config is None:
        return {}
    if not isinstance(config, dict):
        return {"config": ["Must be an object {stack?, styling?}."]}
    errors: dict[str, list[str]] = {}
    for key, value in config.items():
        choices = CONFIG_CHOICES.get(key)
        if choices is None:
            errors[f"config.{key}"] = [f"Unknown option; the options are {', '.join(CONFIG_CHOICES)}."]
        elif value not in choices:
            errors[f"config.{key}"] = [f"Must be one of {', '.join(choices)}."]
    return errors


def config_clean(config: Any) -> dict[str, str]:
    """The config with defaults filled in (call `config_errors` first)."""
    return {**DEFAULT_CONFIG, **(config or {})}


def _named(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    props = {"name": {"type": "string", "minLength": 1, "maxLength": 120}, "description": {"type": "string", "maxLength": 1000}}
    props.update(extra or {})
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def spec_schema(*, max_files: int) -> dict[str, Any]:
    """The JSON Schema of a specification (sent as `response_format` and checked with jsonschema)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "description", "features", "pages", "components", "api_endpoints", "data_model", "files"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 120},
            "description": {"type": "string", "minLength": 1, "maxLength": 2000},
            "features": {"type": "array", "minItems": 1, "maxItems": 30, "items": {"type": "string", "minLength": 1, "maxLength": 300}},
            "pages": {"type": "array", "maxItems": 20, "items": _named({"path": {"type": "string", "maxLength": 200}})},
            "components": {"type": "array", "maxItems": 40, "items": _named()},
            "api_endpoints": {"type": "array", "maxItems": 40, "items": {
                "type": "object", "additionalProperties": False, "required": ["method", "path", "description"],
                "properties": {"method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]}, "path": {"type": "string", "maxLength": 200},
                               "description": {"type": "string", "maxLength": 1000}}}},
            "data_model": {"type": "array", "maxItems": 20, "items": {
                "type": "object", "additionalProperties": False, "required": ["name", "fields"],
                "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 120},
                               "fields": {"type": "array", "maxItems": 50, "items": {
                                   "type": "object", "additionalProperties": False, "required": ["name", "type"],
                                   "properties": {"name": {"type": "string", "maxLength": 120}, "type": {"type": "string", "maxLength": 60}}}}}}},
            "files": {"type": "array", "minItems": 1, "maxItems": max_files, "items": {
                "type": "object", "additionalProperties": False, "required": ["path", "purpose"],
                "properties": {"path": {"type": "string", "pattern": PATH_PATTERN}, "purpose": {"type": "string", "maxLength": 300}}}},
        },
    }


def spec_errors(spec: Any, *, max_files: int, stack: str) -> list[str]:
    """Why a specification is unusable (empty: it is fine): schema errors, then the rules a schema cannot say."""
    validator = jsonschema.Draft202012Validator(spec_schema(max_files=max_files))
    errors = [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"[:300]
              for e in sorted(validator.iter_errors(spec), key=lambda e: list(e.absolute_path))][:20]
    if errors:
        return errors
    paths = [f["path"] for f in spec["files"]]
    for path in paths:
        if ".." in path.split("/") or path.startswith("/") or "//" in path:
            errors.append(f"files: '{path}' is not a plain relative path.")
        elif file_language(path) is None:
            errors.append(f"files: '{path}' has an extension Forge does not generate ({', '.join(sorted(EXTENSIONS))}).")
    if len(set(paths)) != len(paths):
        errors.append("files: each path must appear once.")
    if "index.html" not in paths:
        errors.append("files: the app needs an index.html at its root.")
    if stack == "static" and any(p.endswith(".py") for p in paths):
        errors.append("files: the 'static' stack has no Python files.")
    return errors


def parse_json_answer(text: str) -> Any:
    """A model's JSON answer, tolerating a Markdown code fence around it; raises ValueError."""
    return json.loads(strip_fence(text))


_FENCE = re.compile(r"^\s*```[A-Za-z0-9_+-]*[ \t]*\n(.*?)\n?```\s*$", re.DOTALL)


def strip_fence(text: str) -> str:
    """The content of a reply wrapped in one Markdown code fence (else the reply itself), ending with one newline."""
    match = _FENCE.match(text)
    body = (match.group(1) if match else text).strip("\n")
    return body + "\n" if body else ""


def file_language(path: str) -> str | None:
    """The language of a generated file by its extension (None: not one Forge makes)."""
    dot = path.rfind(".")
    return EXTENSIONS.get(path[dot:].lower()) if dot > 0 else None


# Elements that must be closed explicitly; others (p, li, td...) may be left open in HTML.
_MUST_CLOSE = {"html", "head", "body", "div", "section", "main", "nav", "header", "footer", "article", "aside", "ul", "ol",
               "table", "form", "script", "style", "span", "a", "button", "h1", "h2", "h3", "h4", "h5", "h6", "select",
               "textarea", "template", "label", "canvas", "svg", "title"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr", "param"}


class _TagBalance(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.elements = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.elements += 1
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: Any) -> None:
        self.elements += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if tag not in self.stack:
            self.problems.append(f"</{tag}> closes nothing (line {self.getpos()[0]})")
            return
        while self.stack:
            top = self.stack.pop()
            if top == tag:
                return
            if top in _MUST_CLOSE:
                self.problems.append(f"<{top}> is not closed before </{tag}> (line {self.getpos()[0]})")


def _check_html(content: str) -> str | None:
    parser = _TagBalance()
    parser.feed(content)
    parser.close()
    if parser.elements == 0:
        return "HTML: no elements."
    open_tags = [t for t in parser.stack if t in _MUST_CLOSE]
    if open_tags:
        parser.problems.append(f"<{open_tags[-1]}> is never closed")
    return f"HTML: {parser.problems[0]}" if parser.problems else None


def _check_css(content: str) -> str | None:
    depth = 0
    for char in re.sub(r"/\*.*?\*/", "", content, flags=re.DOTALL):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return "CSS: a '}' closes nothing."
    return "CSS: a '{' is never closed." if depth else None


def _check_javascript(content: str) -> str | None:
    try:
        esprima.parseScript(content)
        return None
    except esprima.Error:
        pass
    try:
        esprima.parseModule(content)
        return None
    except esprima.Error as exc:
        return f"JavaScript: {exc}"[:300]
    except RecursionError:
        return "JavaScript: nested too deeply."


def file_check(path: str, content: str) -> str | None:
    """Why a generated file is broken (None: it parses)."""
    if not content.strip():
        return "The file is empty."
    language = file_language(path)
    try:
        if language == "html":
            return _check_html(content)
        if language == "svg":
            return None if "<svg" in content else "SVG: no <svg> element."
        if language == "json":
            json.loads(content)
        elif language == "python":
            compile(content, path, "exec")
        elif language == "javascript":
            return _check_javascript(content)
        elif language == "css":
            return _check_css(content)
    except json.JSONDecodeError as exc:
        return f"JSON: {exc}"[:300]
    except (SyntaxError, ValueError) as exc:
        return f"Python: {exc}"[:300]
    return None


def package_zip(files: list[tuple[str, str]], *, folder: str) -> bytes:
    """A zip of the files under one top folder."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, content in files:
            archive.writestr(f"{folder}/{path}", content)
    return buffer.getvalue()


def slugify_name(name: str) -> str:
    """A URL-safe short form of an app name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:40] or "app"
