"""Text extraction from an uploaded file, run in a child process with time and memory limits.

Parsers of untrusted files are where a worker hangs or is killed for memory (zip bombs, PDFs
with decompression bombs, HTML nested a million levels deep). So `extract_in_subprocess` runs
this module as `python -m apps.knowledge.extraction <kind>` with the file on stdin: the child
first lowers its own address-space and CPU limits, then parses, and answers JSON on stdout. A
child that overruns its time is killed; one that runs out of memory reports it or dies; either
way the worker only sees a clear error. This module imports no Django, so the child starts fast.

Each extractor returns sections `{"text", "page", "heading"}` in document order; a section read
with OCR (an image, or a PDF page without a text layer) also has `"ocr": true`. While it works the
child reports progress and unreadable pages on stderr, one `@report {json}` line each.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

Section = dict[str, Any]


class ExtractionError(Exception):
    """The file cannot be turned into text; the message is shown to the user."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what one extraction may cost."""

    timeout_seconds: float = 60.0
    memory_mb: int = 1024
    max_unzipped_bytes: int = 100 * 1024 * 1024
    max_zip_ratio: int = 200
    max_zip_entries: int = 5000
    max_html_depth: int = 256
    max_csv_field_bytes: int = 1024 * 1024
    max_chars: int = 20_000_000
    # OCR (images, PDFs) loads ONNX models and their runtime: these kinds get this address-space limit instead.
    ocr_memory_mb: int = 2048

    def as_args(self) -> list[str]:
        """The limits as command-line arguments of the child."""
        return [f"--{key}={value}" for key, value in self.__dict__.items()]

    @classmethod
    def from_args(cls, args: list[str]) -> Limits:
        """Parse `as_args` output."""
        values: dict[str, Any] = {}
        for arg in args:
            key, _, value = arg.removeprefix("--").partition("=")
            field_type = type(getattr(cls, key))
            values[key] = field_type(value)
        return cls(**values)


def _decode(data: bytes) -> str:
    return data.decode("utf-8-sig", errors="replace")


def _check_chars(sections: list[Section], limits: Limits) -> list[Section]:
    total = sum(len(section["text"]) for section in sections)
    if total > limits.max_chars:
        raise ExtractionError(f"The document holds more than {limits.max_chars:,} characters of text.")
    sections = [section for section in sections if section["text"].strip()]
    if not sections:
        raise ExtractionError("No text was found in the document (nor by OCR).")
    return sections


def report(**event: Any) -> None:
    """Tell the parent about progress (`page`, `pages`) or a page OCR could not read (`warning`)."""
    sys.stderr.write("@report " + json.dumps(event) + "\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# OCR (rapidocr-onnxruntime: its ONNX models ship inside the wheel, nothing is downloaded)
# ---------------------------------------------------------------------------------------------
_ocr_engine: Any = None
# Larger images are scaled down first: OCR time and memory grow with the pixel count.
OCR_MAX_SIDE = 4000


def _ocr_image(image: Any) -> str:
    """The text of a PIL image, lines in reading order."""
    global _ocr_engine
    import numpy
    from PIL import Image

    if _ocr_engine is None:
        from rapidocr_onnxruntime import RapidOCR

        # One thread each: the worker runs several extractions, and every thread reserves address space.
        _ocr_engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)
    image = image.convert("RGB")
    if max(image.size) > OCR_MAX_SIDE:
        image.thumbnail((OCR_MAX_SIDE, OCR_MAX_SIDE), Image.Resampling.LANCZOS)
    # RapidOCR takes BGR arrays (OpenCV's order).
    result, _elapsed = _ocr_engine(numpy.asarray(image)[:, :, ::-1])
    return "\n".join(str(line[1]) for line in (result or []))


def extract_image(data: bytes, limits: Limits) -> list[Section]:
    """One OCR section for a PNG, JPEG or WebP image."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = 50_000_000  # a decompression bomb is refused, not decoded
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            report(page=0, pages=1)
            text = _ocr_image(image)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise ExtractionError(f"The image cannot be read ({type(exc).__name__}: {exc})."[:500]) from None
    report(page=1, pages=1)
    return [{"text": text, "page": 1, "heading": None, "ocr": True}]


def _ocr_pdf_page(page: Any, number: int) -> str:
    """OCR of the images of a PDF page that has no text layer (a scan); '' when it has none."""
    from PIL import Image

    texts: list[str] = []
    try:
        images = list(page.images)
    except Exception as exc:  # a damaged image stream: report the page, keep the document
        report(warning=f"Page {number}: its images could not be read for OCR ({type(exc).__name__}).")
        return ""
    for picture in images:
        try:
            with Image.open(io.BytesIO(picture.data)) as image:
                image.load()
                texts.append(_ocr_image(image))
        except Exception as exc:
            report(warning=f"Page {number}: OCR could not read an image ({type(exc).__name__}).")
    return "\n".join(text for text in texts if text.strip())


# ---------------------------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------------------------
def extract_pdf(data: bytes, limits: Limits) -> list[Section]:
    """One section per page, numbered from 1; a page without a text layer is read with OCR."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                unlocked = reader.decrypt("")
            except Exception as exc:
                raise ExtractionError(f"The PDF is encrypted and cannot be opened ({exc}).") from None
            if not unlocked:
                raise ExtractionError("The PDF is encrypted with a password; upload a copy without one.")
        sections: list[Section] = []
        total = 0
        pages = len(reader.pages)
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            section: Section = {"text": text, "page": number, "heading": None}
            if not text.strip():
                section = {**section, "text": _ocr_pdf_page(page, number), "ocr": True}
            total += len(section["text"])
            if total > limits.max_chars:
                raise ExtractionError(f"The document holds more than {limits.max_chars:,} characters of text.")
            sections.append(section)
            report(page=number, pages=pages)
    except ExtractionError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError, RecursionError) as exc:
        raise ExtractionError(f"The PDF is damaged or not a valid PDF ({type(exc).__name__}: {exc})."[:500]) from None
    return sections


# ---------------------------------------------------------------------------------------------
# DOCX
# ---------------------------------------------------------------------------------------------
def _check_zip(data: bytes, limits: Limits) -> None:
    """Refuse archives that would expand far beyond their size (zip bombs) before any inflating."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ExtractionError(f"The DOCX is not a valid archive ({exc}).") from None
    infos = archive.infolist()
    if len(infos) > limits.max_zip_entries:
        raise ExtractionError(f"The DOCX holds {len(infos)} files; at most {limits.max_zip_entries} are accepted.")
    total = sum(info.file_size for info in infos)
    if total > limits.max_unzipped_bytes:
        raise ExtractionError(
            f"The DOCX expands to {total:,} bytes, more than the {limits.max_unzipped_bytes:,} allowed (a zip bomb?)."
        )
    for info in infos:
        if info.file_size > 1024 * 1024 and info.file_size > limits.max_zip_ratio * max(info.compress_size, 1):
            raise ExtractionError(f"The DOCX part {info.filename!r} is compressed {info.file_size // max(info.compress_size, 1)}:1 (a zip bomb?).")


def extract_docx(data: bytes, limits: Limits) -> list[Section]:
    """Sections that start at each heading paragraph; tables become `a | b | c` lines."""
    _check_zip(data, limits)
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many types for broken packages
        raise ExtractionError(f"The DOCX is damaged or not a Word document ({type(exc).__name__}: {exc})."[:500]) from None
    sections: list[Section] = []
    heading: str | None = None
    lines: list[str] = []
    total = 0

    def flush() -> None:
        if lines:
            sections.append({"text": "\n".join(lines), "page": None, "heading": heading})
            lines.clear()

    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                line = " | ".join(cell.text.strip() for cell in row.cells)
                lines.append(line)
                total += len(line)
        else:
            text = block.text.strip()
            style = (block.style.name if block.style is not None else "") or ""
            if text and (style.startswith("Heading") or style == "Title"):
                flush()
                heading = text
            if text:
                lines.append(text)
                total += len(text)
        if total > limits.max_chars:
            raise ExtractionError(f"The document holds more than {limits.max_chars:,} characters of text.")
    flush()
    return sections


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
# Elements whose end tag browsers imply; they must not count as nesting when left open.
_IMPLIED_END = {"p", "li", "dt", "dd", "tr", "td", "th", "option", "thead", "tbody", "tfoot", "colgroup", "caption"}
_BLOCK = {
    "p", "div", "br", "li", "tr", "section", "article", "header", "footer", "blockquote", "pre",
    "table", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "main", "aside", "nav", "figure",
}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_SKIP = {"script", "style", "noscript", "template", "svg", "head"}


class _DepthProbe(HTMLParser):
    """Streams the markup once to measure nesting, without building a tree."""

    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=False)
        self.limit = limit
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID or tag in _IMPLIED_END:
            return
        self.depth += 1
        if self.depth > self.limit:
            raise ExtractionError(f"The HTML is nested more than {self.limit} levels deep.")

    def handle_endtag(self, tag: str) -> None:
        if tag not in _VOID and tag not in _IMPLIED_END and self.depth > 0:
            self.depth -= 1


def extract_html(data: bytes, limits: Limits) -> list[Section]:
    """Visible text split at headings (h1-h6), scripts and styles dropped."""
    text = _decode(data)
    probe = _DepthProbe(limits.max_html_depth)
    probe.feed(text)
    probe.close()

    from bs4 import BeautifulSoup
    from bs4.element import NavigableString, PreformattedString, Tag

    soup = BeautifulSoup(text, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for tag in soup.find_all(_SKIP):
        tag.decompose()
    sections: list[Section] = []
    heading: str | None = title
    parts: list[str] = []

    def flush() -> None:
        body = re.sub(r"[ \t]+", " ", "".join(parts))
        body = re.sub(r"\n\s*\n+", "\n\n", body).strip()
        if body:
            sections.append({"text": body, "page": None, "heading": heading})
        parts.clear()

    for node in soup.descendants:  # an iterator: no recursion, whatever the depth
        if isinstance(node, PreformattedString):  # comments, doctype, CDATA, processing instructions
            continue
        if isinstance(node, NavigableString):
            parts.append(str(node))
        elif isinstance(node, Tag):
            if node.name in _HEADINGS:
                flush()
                heading = node.get_text(" ", strip=True) or heading
            if node.name in _BLOCK:
                parts.append("\n")
    flush()
    return sections


# ---------------------------------------------------------------------------------------------
# CSV, JSON, Markdown, plain text
# ---------------------------------------------------------------------------------------------
def extract_csv(data: bytes, limits: Limits) -> list[Section]:
    """Each row as `column: value; ...` lines, so a chunk keeps the meaning of its cells."""
    text = _decode(data)
    longest_line = max((len(line) for line in text.splitlines()), default=0)
    if longest_line > limits.max_csv_field_bytes:
        raise ExtractionError(
            f"The CSV has a line of {longest_line:,} characters; at most {limits.max_csv_field_bytes:,} per row are accepted."
        )
    csv.field_size_limit(limits.max_csv_field_bytes)
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    lines: list[str] = []
    try:
        header = next(reader, None)
        if header is None:
            return []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            cells = [f"{name.strip() or f'column {i + 1}'}: {value.strip()}" for i, (name, value) in enumerate(zip(header, row, strict=False))]
            lines.append("; ".join(cells))
    except csv.Error as exc:
        raise ExtractionError(f"The CSV cannot be parsed ({exc}).") from None
    if not lines:  # a header only, or a single-column list: index the raw text
        lines = [", ".join(header)]
    return [{"text": "\n".join(lines), "page": None, "heading": None}]


def _json_lines(value: Any) -> Iterator[str]:
    """`path: value` for every leaf, walked with an explicit stack (no recursion limit)."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            for key in reversed(list(node)):
                stack.append((f"{path}.{key}" if path else str(key), node[key]))
        elif isinstance(node, list):
            for index in range(len(node) - 1, -1, -1):
                stack.append((f"{path}[{index}]", node[index]))
        else:
            yield f"{path or 'value'}: {node}"


def extract_json(data: bytes, limits: Limits) -> list[Section]:
    """Leaves as `path: value` lines."""
    try:
        value = json.loads(_decode(data))
    except RecursionError:
        raise ExtractionError("The JSON is nested too deeply to read.") from None
    except ValueError as exc:
        raise ExtractionError(f"The JSON is not valid ({exc}).") from None
    return [{"text": "\n".join(_json_lines(value)), "page": None, "heading": None}]


_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def extract_markdown(data: bytes, limits: Limits) -> list[Section]:
    """Sections at each ATX heading (`#`..`######`), ignoring `#` lines inside code fences."""
    sections: list[Section] = []
    heading: str | None = None
    lines: list[str] = []
    in_fence = False
    for line in _decode(data).splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _ATX_HEADING.match(line)
        if match:
            if "".join(lines).strip():
                sections.append({"text": "\n".join(lines).strip(), "page": None, "heading": heading})
            lines = []
            heading = match.group(2).strip()
        lines.append(line)
    if "".join(lines).strip():
        sections.append({"text": "\n".join(lines).strip(), "page": None, "heading": heading})
    return sections


def extract_text(data: bytes, limits: Limits) -> list[Section]:
    """The whole file as one section."""
    return [{"text": _decode(data), "page": None, "heading": None}]


EXTRACTORS = {
    "pdf": extract_pdf,
    "docx": extract_docx,
    "html": extract_html,
    "csv": extract_csv,
    "json": extract_json,
    "md": extract_markdown,
    "txt": extract_text,
    "png": extract_image,
    "jpeg": extract_image,
    "webp": extract_image,
}


def extract(kind: str, data: bytes, limits: Limits) -> list[Section]:
    """Sections of text of a file of `kind`, in this process (no limits but the checks)."""
    extractor = EXTRACTORS.get(kind)
    if extractor is None:
        raise ExtractionError(f"No extractor for {kind!r} files.")
    return _check_chars(extractor(data, limits), limits)


# ---------------------------------------------------------------------------------------------
# The child process
# ---------------------------------------------------------------------------------------------
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


def extract_in_subprocess(kind: str, data: bytes, limits: Limits,
                          on_report: Callable[[dict[str, Any]], None] | None = None) -> list[Section]:
    """Run `extract` in a child process bounded in time and memory; raise ExtractionError on failure.

    `on_report` receives the child's reports as they come (`{"page", "pages"}` or `{"warning"}`).
    """
    command = [sys.executable, "-m", "apps.knowledge.extraction", kind, *limits.as_args()]
    env = {key: value for key, value in os.environ.items() if key in ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR")}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    env["OMP_NUM_THREADS"] = "1"  # OCR: one core per extraction, the worker runs several
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=PROJECT_ROOT, env=env)
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        process.kill()

    watchdog = threading.Timer(limits.timeout_seconds, kill)
    watchdog.start()
    out: list[bytes] = []

    def feed_and_read() -> None:
        assert process.stdin is not None and process.stdout is not None
        try:
            process.stdin.write(data)
            process.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        out.append(process.stdout.read())

    io_thread = threading.Thread(target=feed_and_read, daemon=True)
    io_thread.start()
    stderr_tail: list[str] = []
    try:
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith("@report "):
                if on_report is not None:
                    try:
                        on_report(json.loads(line[len("@report "):]))
                    except ValueError:
                        pass
            elif line.strip():
                stderr_tail = [*stderr_tail[-4:], line]
        io_thread.join()
        returncode = process.wait()
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    if timed_out.is_set():
        raise ExtractionError(f"Reading the document took longer than {limits.timeout_seconds:g} s; it was stopped.")
    stdout = out[0] if out else b""
    try:
        answer = json.loads(stdout) if stdout else None
    except ValueError:
        answer = None
    if isinstance(answer, dict) and "error" in answer:
        raise ExtractionError(str(answer["error"]))
    if returncode != 0 or not isinstance(answer, dict):
        if returncode < 0:
            raise ExtractionError(
                f"Reading the document exceeded its limits (stopped by signal {-returncode}; "
                f"memory limit {limits.memory_mb} MB, time limit {limits.timeout_seconds:g} s)."
            )
        raise ExtractionError(f"Reading the document failed ({(stderr_tail[-1:] or ['no output'])[0][:300]}).")
    return list(answer["sections"])


OCR_KINDS = {"pdf", "png", "jpeg", "webp"}


def _apply_limits(limits: Limits, kind: str = "") -> None:
    import resource

    memory = (max(limits.memory_mb, limits.ocr_memory_mb) if kind in OCR_KINDS else limits.memory_mb) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(limits.timeout_seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main(argv: list[str]) -> int:
    """Child entry point: limits first, then read stdin, extract, answer JSON."""
    kind, limits = argv[0], Limits.from_args(argv[1:])
    _apply_limits(limits, kind)
    sys.setrecursionlimit(5000)
    data = sys.stdin.buffer.read()
    try:
        sections = extract(kind, data, limits)
    except ExtractionError as exc:
        answer: dict[str, Any] = {"error": str(exc)}
    except MemoryError:
        answer = {"error": f"Reading the document needed more than {limits.memory_mb} MB of memory; it was stopped."}
    except RecursionError:
        answer = {"error": "The document is nested too deeply to read."}
    except Exception as exc:  # any parser bug on a hostile file is a failed document, not a crash
        answer = {"error": f"The document could not be read ({type(exc).__name__}: {exc})."[:500]}
    else:
        answer = {"sections": sections}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
