"""Small PDFs made from scratch, for the tests, the benchmark and the demo (SPEC 2.6).

No PDF library is needed: a text page is Courier (one of the fonts every reader has, and
monospaced, so `pdftotext -layout` gives the columns back as written), a scan is one
grey image per page. The hostile ones are what a reader must survive (SPEC 2.5).
"""

from __future__ import annotations

import subprocess
import zlib
from collections.abc import Iterable, Sequence

A4 = (595, 842)  # points
_FONT_SIZE = 10
_LEADING = 12
_MARGIN = 40


# The text of the invoice that the test templates (tests/data/textpdf/templates) read:
# `number` is its invoice number, `ACME-2024-0042` in the tests.
ACME_INVOICE = """\
ACME Tools GmbH                                   Rechnung / Invoice
Werkzeugstrasse 1, 10115 Berlin                   VAT ID: DE 123 456 789

Bill to: Globex Corporation
Invoice number: {number}
Date: 2024-03-05
Due: 2024-04-04

Description                     Qty      Price     Amount
Hammer, steel                     2      12.50      25.00
Screwdriver set                   1      40.00      40.00
Workbench                         1     120.00     120.00

Net:       185.00
VAT:        35.15
Total:     220.15 EUR
"""


def _escape(line: str) -> bytes:
    """A PDF string literal's body: cp1252 (Courier's WinAnsiEncoding, so `€` and `ä`
    print), with its three special bytes escaped."""
    raw = line.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _assemble(objects: Sequence[bytes], *, root: int = 1) -> bytes:
    """Numbered objects (1...) into a PDF with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        root,
        xref,
    )
    return bytes(out)


def _stream(content: bytes, extra: bytes = b"", *, compress: bool = True) -> bytes:
    if compress:
        content = zlib.compress(content)
        extra += b" /Filter /FlateDecode"
    return b"<< /Length %d%s >>\nstream\n" % (len(content), extra) + content + b"\nendstream"


def _document(page_bodies: Sequence[tuple[bytes, bytes]], size: tuple[float, float]) -> bytes:
    """Pages of (content stream, resources): catalog 1, page tree 2, font 3, then pages."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", b""]
    objects[2] = b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>"
    kids = []
    for content, resources in page_bodies:
        page = len(objects) + 1
        kids.append(b"%d 0 R" % page)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %s %s] /Resources %s /Contents %d 0 R >>"
            % (str(size[0]).encode(), str(size[1]).encode(), resources, page + 1)
        )
        objects.append(_stream(content))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids))
    return _assemble(objects)


def text_pdf(pages: Iterable[str], *, size: tuple[float, float] = A4) -> bytes:
    """One page per text, each line printed as written in 10 pt Courier from the top left."""
    bodies = []
    for text in pages:
        ops = [b"BT /F1 %d Tf %d TL %d %d Td" % (_FONT_SIZE, _LEADING, _MARGIN, size[1] - 60)]
        for line in text.splitlines():
            ops.append(b"(" + _escape(line) + b") Tj T*")
        ops.append(b"ET")
        bodies.append((b"\n".join(ops), b"<< /Font << /F1 3 0 R >> >>"))
    return _document(bodies, size)


def parse_pgm(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and 8-bit grey pixels of a binary PGM (P5), as `pdftoppm -gray` writes it."""
    fields: list[bytes] = []
    pos = 0
    while len(fields) < 4:
        while data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end : end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b"P5" or fields[3] != b"255":
        raise ValueError("not an 8-bit binary PGM")
    width, height = int(fields[1]), int(fields[2])
    pixels = data[pos + 1 : pos + 1 + width * height]
    return width, height, pixels


def image_pdf(images: Iterable[tuple[int, int, bytes]], *, dpi: int) -> bytes:
    """A scan: one page per 8-bit grey image (width, height, pixels), no text layer."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    for width, height, pixels in images:
        page = len(objects) + 1
        w_pt, h_pt = width * 72 / dpi, height * 72 / dpi
        kids.append(b"%d 0 R" % page)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] "
            b"/Resources << /XObject << /Im0 %d 0 R >> >> /Contents %d 0 R >>"
            % (w_pt, h_pt, page + 1, page + 2)
        )
        objects.append(
            _stream(
                pixels,
                b" /Type /XObject /Subtype /Image /Width %d /Height %d "
                b"/ColorSpace /DeviceGray /BitsPerComponent 8" % (width, height),
            )
        )
        objects.append(_stream(b"q %.2f 0 0 %.2f 0 0 cm /Im0 Do Q" % (w_pt, h_pt)))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids))
    return _assemble(objects)


# Hostile PDFs (SPEC 2.5): each must end as a rejection, within the time limit.


def endless_page_tree() -> bytes:
    """A page tree whose node is its own kid: a naive walk never ends."""
    return _assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 1000000000 >>",
            b"<< /Type /Pages /Parent 2 0 R /Kids [3 0 R 2 0 R] /Count 1000000000 >>",
        ]
    )


def huge_page(side_points: int = 14_400, text: str = "x") -> bytes:
    """One page of `side_points` square (PDF's largest, 200 inches), holding `text` (none:
    a scan to OCR): at 300 dpi its bitmap would take 3.6 GB."""
    return text_pdf([text], size=(side_points, side_points))


def bomb(decompressed_mib: int = 1024) -> bytes:
    """A content stream that inflates 1000 to 1: a few hundred kB that print as gigabytes."""
    chunk = b"(" + b"A" * 1000 + b") Tj T*\n"
    packer = zlib.compressobj(9)
    parts = [packer.compress(b"BT /F1 10 Tf 12 TL 40 780 Td\n")]
    block = chunk * 1024  # about 1 MiB
    for _ in range(decompressed_mib):
        parts.append(packer.compress(block))
    parts.append(packer.compress(b"ET"))
    parts.append(packer.flush())
    content = b"".join(parts)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content)
        + content
        + b"\nendstream",
    ]
    return _assemble(objects)


def many_pages(count: int, text: str = "page") -> bytes:
    """`count` pages sharing one content stream: small to send, long to read."""
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>",
        _stream(b"BT /F1 10 Tf 40 780 Td (" + _escape(text) + b") Tj ET"),
    ]
    kids = []
    for _ in range(count):
        kids.append(b"%d 0 R" % (len(objects) + 1))
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>"
        )
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), count)
    return _assemble(objects)


def scanned(pdf: bytes, pages: int = 1, dpi: int = 200) -> bytes:
    """The first `pages` pages of `pdf` printed and scanned: poppler's grey image of each
    (`pdftoppm`), in a PDF with no text layer."""
    images = []
    for page in range(1, pages + 1):
        pgm = subprocess.run(  # noqa: S603 (poppler's own tool on the PDF we made)
            ["pdftoppm", "-r", str(dpi), "-gray", "-f", str(page), "-l", str(page), "-singlefile"],  # noqa: S607
            input=pdf,
            capture_output=True,
            check=True,
        ).stdout
        images.append(parse_pgm(pgm))
    return image_pdf(images, dpi=dpi)
