"""Sample files of every allowed type, and hostile ones, built in memory for the tests."""
from __future__ import annotations

import io
import json
import zipfile


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[str]) -> bytes:
    """A valid PDF with one page of Helvetica text per entry (lines split on newlines)."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for index, text in enumerate(pages):
        lines = text.split("\n")
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 760 Td"]
        for line in lines:
            ops.append(f"({_pdf_escape(line)}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        content_id = page_ids[index] + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {content_id} 0 R >>".encode()
        )
        objects.append(b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def make_encrypted_pdf(text: str, password: str = "s3cret") -> bytes:
    """A PDF that needs a user password to open."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(make_pdf([text]))).pages:
        writer.add_page(page)
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(blocks: list[tuple[str, str]]) -> bytes:
    """A DOCX from (style, text) pairs: style 'h1'/'h2' for headings, 'p' for paragraphs, 'table' for 'a|b;c|d'."""
    import docx

    document = docx.Document()
    for style, text in blocks:
        if style in ("h1", "h2", "h3"):
            document.add_heading(text, level=int(style[1]))
        elif style == "table":
            rows = [row.split("|") for row in text.split(";")]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = cell
        else:
            document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_zip_bomb_docx(expanded_mb: int = 300) -> bytes:
    """A DOCX-shaped archive whose document.xml inflates to `expanded_mb` MB of zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
        archive.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>')
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1024 * 1024)
            for _ in range(expanded_mb):
                member.write(block)
    return out.getvalue()


def make_nested_html(depth: int = 100_000) -> bytes:
    """HTML with `depth` nested <div>s."""
    return b"<!doctype html><html><body>" + b"<div>" * depth + b"deep" + b"</div>" * depth + b"</body></html>"


def make_single_line_csv(size: int = 10 * 1024 * 1024 - 1024) -> bytes:
    """A CSV of one enormous line."""
    cell = b"x" * 1000 + b","
    return (cell * (size // len(cell)))[:size]


SAMPLE_HTML = b"""<!doctype html>
<html><head><title>Garden guide</title><style>body{color:red}</style><script>var secret = "not text";</script></head>
<body>
<h1>Tomatoes</h1><p>Tomatoes need full sun and deep watering twice a week.</p>
<h2>Pests</h2><p>Aphids on tomatoes are washed off with a strong jet of water.</p>
</body></html>"""

SAMPLE_MD = b"""# Deployment handbook

Run the migrations before you restart the web processes.

## Rollback

```
# this is not a heading inside a fence
```

To roll back, redeploy the previous image tag and run the reverse migration.
"""

SAMPLE_CSV = b"city,country,population\nLisbon,Portugal,545000\nOporto,Portugal,232000\nMadrid,Spain,3300000\n"

SAMPLE_JSON = json.dumps(
    {"product": {"name": "Nexus", "features": ["hybrid search", "presigned uploads"], "license": "self-hosted"}}
).encode()

SAMPLE_TXT = b"The quarterly budget review happens in the second week of March.\nBring the cost report.\n"

# A GIF header: an image kind knowledge does not accept.
GIF_BYTES = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"

# A tiny PNG (1x1 transparent pixel).
PNG_BYTES = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
