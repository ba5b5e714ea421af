"""Content sniffing: the bytes decide the type; the name only picks between look-alike text kinds."""
from __future__ import annotations

import pytest

from apps.knowledge.errors import UnsupportedFileType
from apps.knowledge.filetypes import sniff
from tests.knowledge import files


@pytest.mark.parametrize(
    ("data", "name", "kind"),
    [
        (files.make_pdf(["hello"]), "a.pdf", "pdf"),
        (files.make_docx([("p", "hello")]), "a.docx", "docx"),
        (files.SAMPLE_TXT, "a.txt", "txt"),
        (files.SAMPLE_MD, "a.md", "md"),
        (files.SAMPLE_HTML, "a.html", "html"),
        (files.SAMPLE_CSV, "a.csv", "csv"),
        (files.SAMPLE_JSON, "a.json", "json"),
        # No extension: the content decides.
        (files.make_pdf(["hello"]), "scan", "pdf"),
        (files.SAMPLE_HTML, "page", "html"),
        (files.SAMPLE_JSON, "data", "json"),
        (files.SAMPLE_TXT, "notes", "txt"),
    ],
)
def test_allowed_kinds_are_recognised(data: bytes, name: str, kind: str) -> None:
    assert sniff(data, file_name=name, complete=True).kind == kind


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (files.GIF_BYTES, "photo.gif"),  # not an allowed kind
        (files.PNG_BYTES, "photo.pdf"),  # binary posing as PDF
        (files.PNG_BYTES, "photo.txt"),  # binary posing as text
        (files.make_pdf(["x"]), "report.txt"),  # a PDF posing as text
        (files.SAMPLE_TXT, "report.pdf"),  # text posing as PDF
        (files.SAMPLE_TXT, "report.docx"),
        (b"{not json", "data.json"),
        (b"just words, no markup", "page.html"),
        (b"PK\x03\x04" + b"\0" * 40, "archive.docx"),  # a zip, but not a Word document
        (files.SAMPLE_TXT, "setup.exe"),
    ],
)
def test_mismatches_and_other_types_are_refused_with_415(data: bytes, name: str) -> None:
    with pytest.raises(UnsupportedFileType) as caught:
        sniff(data, file_name=name, complete=True)
    assert caught.value.status_code == 415


def test_first_bytes_of_a_docx_are_enough() -> None:
    data = files.make_docx([("h1", "Title"), ("p", "body " * 5000)])
    assert sniff(data[:4096], file_name="a.docx", complete=False).kind == "docx"


def test_a_cut_multibyte_character_in_the_head_is_not_binary() -> None:
    data = ("é" * 10).encode()
    assert sniff(data[:5], file_name="a.txt", complete=False).kind == "txt"


def test_allowed_types_are_configurable(settings) -> None:  # type: ignore[no-untyped-def]
    settings.KNOWLEDGE_ALLOWED_TYPES = ["pdf"]
    with pytest.raises(UnsupportedFileType):
        sniff(files.SAMPLE_TXT, file_name="a.txt")
    assert sniff(files.make_pdf(["x"]), file_name="a.pdf").kind == "pdf"
