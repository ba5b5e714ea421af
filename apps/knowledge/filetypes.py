"""What a file is, judged by its bytes: the allowed kinds and the sniffing that decides them.

The declared name and type only choose between kinds that look alike (TXT, Markdown and CSV are
all plain text). A file whose bytes are not an allowed kind, or are a different allowed kind
than the one it claims (a PDF named `.txt`, a PNG named `.pdf`), is refused with 415.
"""
from __future__ import annotations

import codecs
import json
import os
import re
import struct
import zipfile
from dataclasses import dataclass
from io import BytesIO

from .errors import UnsupportedFileType

# kind -> the content type we store and serve
CONTENT_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "txt": "text/plain",
    "md": "text/markdown",
    "html": "text/html",
    "csv": "text/csv",
    "json": "application/json",
    # Images are read with OCR (extraction.py); off unless KNOWLEDGE_ALLOWED_TYPES lists them.
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}
IMAGE_KINDS = {"png", "jpeg", "webp"}
EXTENSIONS: dict[str, str] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".txt": "txt",
    ".text": "txt",
    ".log": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".csv": "csv",
    ".json": "json",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".webp": "webp",
}
MIME_TYPES: dict[str, str] = {
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
    CONTENT_TYPES["docx"]: "docx",
    "text/plain": "txt",
    "text/markdown": "md",
    "text/x-markdown": "md",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/csv": "csv",
    "application/csv": "csv",
    "application/json": "json",
    "text/json": "json",
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/webp": "webp",
}
# Types that say nothing about the content (browsers send these for unknown extensions).
GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream"}
TEXT_KINDS = {"txt", "md", "html", "csv", "json"}
# How much of a file the sniffer needs; confirm reads this much of an S3 object.
SNIFF_BYTES = 64 * 1024

_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(rb"<(html|head|body|div|p|h[1-6]|title|table|span|a)\b[^>]*>", re.IGNORECASE)
_ALLOWED_CONTROL = {"\t", "\n", "\r", "\f", "\v"}


@dataclass(frozen=True)
class FileKind:
    """The verdict on a file: its kind and the content type Nexus stores."""

    kind: str

    @property
    def content_type(self) -> str:
        """The canonical content type of this kind."""
        return CONTENT_TYPES[self.kind]


def allowed_kinds() -> set[str]:
    """The kinds this install accepts (KNOWLEDGE_ALLOWED_TYPES)."""
    from django.conf import settings

    configured = getattr(settings, "KNOWLEDGE_ALLOWED_TYPES", None) or list(CONTENT_TYPES)
    return {kind for kind in configured if kind in CONTENT_TYPES}


def declared_kind(file_name: str, file_type: str | None) -> str | None:
    """The kind a name and content type claim; None when they claim nothing; '' for a refused kind."""
    extension = os.path.splitext(file_name or "")[1].lower()
    if extension:
        return EXTENSIONS.get(extension, "")
    mime = (file_type or "").split(";")[0].strip().lower()
    if mime in GENERIC_TYPES:
        return None
    return MIME_TYPES.get(mime, "")


def _zip_names_from_head(head: bytes) -> list[str]:
    """Names of the zip entries whose local headers lie inside `head` (no central directory needed)."""
    names: list[str] = []
    offset = 0
    while offset + 30 <= len(head) and head[offset : offset + 4] == b"PK\x03\x04":
        flags, _method = struct.unpack("<HH", head[offset + 6 : offset + 10])
        compressed, _size, name_len, extra_len = struct.unpack("<IIHH", head[offset + 18 : offset + 30])
        name = head[offset + 30 : offset + 30 + name_len].decode("utf-8", "replace")
        names.append(name)
        if flags & 0x08:  # sizes follow the data: the next header cannot be located from here
            break
        offset += 30 + name_len + extra_len + compressed
    return names


def _is_docx(data: bytes, *, complete: bool) -> bool:
    if complete:
        try:
            with zipfile.ZipFile(BytesIO(data)) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, ValueError, OSError):
            return False
        return "word/document.xml" in names and "[Content_Types].xml" in names
    head_names = _zip_names_from_head(data)
    return any(name == "[Content_Types].xml" or name.startswith("word/") for name in head_names)


def _decode_text(data: bytes, *, complete: bool) -> str | None:
    """The text of `data` when it is UTF-8 text without binary control bytes, else None."""
    if b"\x00" in data:
        return None
    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
    try:
        # An S3 head may cut a multi-byte character in two: only the full file must end cleanly.
        text = decoder.decode(data, final=complete)
    except UnicodeDecodeError:
        return None
    sample = text[:SNIFF_BYTES]
    if sample:
        controls = sum(1 for char in sample if ord(char) < 32 and char not in _ALLOWED_CONTROL)
        if controls / len(sample) > 0.01:
            return None
    return text


def _looks_like_html(data: bytes) -> bool:
    head = data[:4096]
    return bool(_HTML_START.match(head)) or len(_HTML_TAG.findall(head)) >= 2


def _image_kind(data: bytes) -> str | None:
    """png, jpeg or webp by their signatures."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _refuse(message: str, *, declared: str | None, detected: str | None) -> UnsupportedFileType:
    return UnsupportedFileType(message, details={"declared": declared, "detected": detected, "allowed": sorted(allowed_kinds())})


def sniff(data: bytes, *, file_name: str, file_type: str | None = None, complete: bool = True) -> FileKind:
    """Decide the kind of a file from its bytes (`complete=False`: only its first bytes are given)."""
    declared = declared_kind(file_name, file_type)
    allowed = allowed_kinds()
    if declared == "" or (declared in IMAGE_KINDS and declared not in allowed):
        # Images not enabled on this install are refused as any unknown type was before OCR existed.
        raise _refuse(f"Files like {file_name!r} are not supported.", declared=None, detected=None)

    image = _image_kind(data) if allowed & IMAGE_KINDS else None
    if image:
        detected = image
    elif b"%PDF-" in data[:1024]:
        detected = "pdf"
    elif data[:4] == b"PK\x03\x04":
        if not _is_docx(data, complete=complete):
            raise _refuse("This archive is not a Word (DOCX) document.", declared=declared, detected="zip")
        detected = "docx"
    else:
        text = _decode_text(data, complete=complete)
        if text is None:
            raise _refuse("The file's content is not a supported type (binary data).", declared=declared, detected="binary")
        if declared in ("pdf", "docx"):
            raise _refuse(f"The file is named as {declared.upper()} but its content is text.", declared=declared, detected="text")
        if declared == "json" or (declared is None and text.lstrip()[:1] in ("{", "[")):
            if complete:
                try:
                    json.loads(text)
                except (ValueError, RecursionError):
                    if declared == "json":
                        raise _refuse("The file is named as JSON but is not valid JSON.", declared=declared, detected="text") from None
                    detected = "txt"
                else:
                    detected = "json"
            else:
                detected = "json" if text.lstrip()[:1] in ("{", "[") else ""
                if not detected:
                    raise _refuse("The file is named as JSON but does not start like JSON.", declared=declared, detected="text")
        elif declared == "html" or (declared is None and _looks_like_html(data)):
            if not _looks_like_html(data):
                raise _refuse("The file is named as HTML but its content is not HTML.", declared=declared, detected="text")
            detected = "html"
        else:
            detected = declared or "txt"
    if declared is not None and declared != detected:
        raise _refuse(
            f"The file is named as {declared.upper()} but its content is {detected.upper()}.", declared=declared, detected=detected
        )
    if detected not in allowed:
        raise _refuse(f"{detected.upper()} files are not accepted here.", declared=declared, detected=detected)
    return FileKind(detected)
