"""Readers, one per syntax of SPEC section 2, and the sniffing that picks one.

`read` is the one door every document goes through: the container is recognised
from the bytes (never the name), then the reader for it runs. Until the UBL, CII
and Factur-X readers exist, those containers are refused `unsupported_format`.
"""

from __future__ import annotations

from docproc import parser
from docproc.formats.sniff import Kind, container
from docproc.models import Format, ParsedDocument, Problem, Reason

_NOT_YET = {
    Kind.XML: "an XML document (UBL or CII e-invoice?): the UBL/CII readers are not available "
    "yet, only text format v1 is read",
    Kind.PDF: "a PDF (Factur-X/ZUGFeRD?): the PDF reader is not available yet, only text "
    "format v1 is read",
    Kind.JSON: "a JSON document: no invoice format of SPEC section 2 is written in JSON",
}
# First bytes after which `container` could say anything but text: '%' (PDF), '<', '{',
# '[', a blank or NUL, and the first byte of each BOM. Any other byte is text-v1 at once.
_MAYBE_NOT_TEXT = frozenset(b"%<{[ \t\r\n\x00\xef\xff\xfe")


def read(data: bytes) -> ParsedDocument:
    """The document's syntax, whatever the bytes; never raises (a bad document is a result)."""
    if data and data[0] not in _MAYBE_NOT_TEXT:  # the hot path of text-v1
        return parser.parse(data)
    kind = container(data)
    if kind is Kind.TEXT:
        return parser.parse(data)
    problem = Problem(Reason.UNSUPPORTED_FORMAT, f"unsupported format: {_NOT_YET[kind]}")
    return ParsedDocument(problems=(problem,), format=Format.UNKNOWN)
