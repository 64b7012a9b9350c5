"""Which syntax a document is written in, from its first bytes, never from its name (SPEC 2)."""

from __future__ import annotations

from enum import StrEnum

# Byte-order marks a real file may start with; the text-v1 reader decodes them itself.
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_BLANK = b" \t\r\n\x00"
_SNIFF_BYTES = 4096  # enough for any BOM and leading blank lines a real file has


PDF_MAGIC = b"%PDF-"  # SPEC 2: what a PDF starts with


class Kind(StrEnum):
    """The container a document's bytes are in, before its vocabulary is known."""

    PDF = "pdf"
    XML = "xml"
    JSON = "json"
    TEXT = "text"


def container(data: bytes) -> Kind:
    """`pdf`, `xml`, `json` or `text`: what the first non-blank byte says (SPEC section 2).

    UTF-16 XML is recognised too: its blanks and `<` come with NUL bytes, skipped here.
    """
    if data.startswith(PDF_MAGIC):
        return Kind.PDF
    head = data[:_SNIFF_BYTES]
    for bom in _BOMS:
        if head.startswith(bom):
            head = head[len(bom) :]
            break
    first = head.lstrip(_BLANK)[:1]
    if first == b"<":
        return Kind.XML
    if first in (b"{", b"["):
        return Kind.JSON
    return Kind.TEXT
