"""Extraction in a bounded child process: every type, and hostile files that must fail cleanly."""
from __future__ import annotations

import pytest

from apps.knowledge.extraction import ExtractionError, Limits, extract_in_subprocess
from tests.knowledge import files

LIMITS = Limits()


def test_pdf_pages_are_numbered() -> None:
    sections = extract_in_subprocess("pdf", files.make_pdf(["First page about apples", "Second page about pears"]), LIMITS)
    assert [section["page"] for section in sections] == [1, 2]
    assert "apples" in sections[0]["text"] and "pears" in sections[1]["text"]


def test_docx_sections_follow_headings_and_keep_tables() -> None:
    data = files.make_docx([("h1", "Intro"), ("p", "Welcome text."), ("h2", "Prices"), ("table", "item|cost;tea|3")])
    sections = extract_in_subprocess("docx", data, LIMITS)
    assert [section["heading"] for section in sections] == ["Intro", "Prices"]
    assert "tea | 3" in sections[1]["text"]


def test_html_drops_scripts_and_splits_at_headings() -> None:
    sections = extract_in_subprocess("html", files.SAMPLE_HTML, LIMITS)
    text = " ".join(section["text"] for section in sections)
    assert "not text" not in text and "color" not in text
    assert [section["heading"] for section in sections] == ["Tomatoes", "Pests"]


def test_markdown_headings_ignore_code_fences() -> None:
    sections = extract_in_subprocess("md", files.SAMPLE_MD, LIMITS)
    assert [section["heading"] for section in sections] == ["Deployment handbook", "Rollback"]


def test_csv_rows_keep_their_column_names() -> None:
    sections = extract_in_subprocess("csv", files.SAMPLE_CSV, LIMITS)
    assert "city: Madrid; country: Spain; population: 3300000" in sections[0]["text"]


def test_json_leaves_become_paths() -> None:
    sections = extract_in_subprocess("json", files.SAMPLE_JSON, LIMITS)
    assert "product.features[0]: hybrid search" in sections[0]["text"]


def test_text_is_taken_as_is() -> None:
    sections = extract_in_subprocess("txt", files.SAMPLE_TXT, LIMITS)
    assert "quarterly budget" in sections[0]["text"]


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("pdf", files.make_encrypted_pdf("secret plans"), "encrypted"),
        ("pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 9 0 R >>\ngarbage" + b"\xff" * 500, "PDF"),
        ("pdf", files.make_pdf(["   "]), "No text"),
        ("docx", files.make_zip_bomb_docx(300), "zip bomb"),
        ("docx", b"PK\x03\x04" + b"\0" * 100, "not a valid archive"),
        ("html", files.make_nested_html(100_000), "nested more than"),
        ("csv", files.make_single_line_csv(), "line of"),
        ("json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_hostile_files_fail_with_a_clear_error(kind: str, data: bytes, message: str) -> None:
    with pytest.raises(ExtractionError) as caught:
        extract_in_subprocess(kind, data, LIMITS)
    assert message in str(caught.value)


def test_memory_limit_stops_the_child_not_the_caller() -> None:
    # 10 MB of text cannot be read, decoded and answered within 40 MB of address space.
    with pytest.raises(ExtractionError) as caught:
        extract_in_subprocess("txt", b"word " * 2_000_000, Limits(memory_mb=40))
    assert "memory" in str(caught.value).lower()


def test_time_limit_stops_a_slow_extraction() -> None:
    with pytest.raises(ExtractionError) as caught:
        extract_in_subprocess("txt", files.SAMPLE_TXT, Limits(timeout_seconds=0.001))
    assert "longer than" in str(caught.value)
