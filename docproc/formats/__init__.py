"""Readers, one per syntax of SPEC section 2, and the sniffing that picks one.

`read` is the one door every document goes through: the container is recognised
from the bytes (never the name), then the reader for it runs: text format v1, or
the e-invoice reader for XML (UBL, CII) and PDF (Factur-X / ZUGFeRD), which hands a PDF
with no embedded invoice to the template reader (`plainpdf`, under `PdfOptions`). What
a reader returns is `docproc.formats.document`'s; `docproc.rules.judge` gives the verdict.
No reader raises, and none imports an I/O library (a contract in pyproject checks it).
"""

from __future__ import annotations

from docproc.formats import text
from docproc.formats.document import (
    Document,
    EInvoiceDocument,
    ExtractedDocument,
    ParsedDocument,
    oversized,
)
from docproc.formats.einvoice import read_einvoice
from docproc.formats.plainpdf import PdfOptions
from docproc.formats.sniff import PDF_MAGIC, Kind, container
from docproc.models import DEFAULT_MAX_DOCUMENT_BYTES, Format, Problem, Reason

__all__ = ["DEFAULT_PDF", "PDF_MAGIC", "Document", "PdfOptions", "describe", "oversized", "read"]

_JSON = (
    "unsupported format: a JSON document: no invoice format docproc reads is written in "
    "JSON (India's GST e-invoice JSON is not read yet)"
)
# First bytes after which `container` could say anything but text: '%' (PDF), '<', '{',
# '[', a blank or NUL, and the first byte of each BOM. Any other byte is text-v1 at once.
_MAYBE_NOT_TEXT = frozenset(b"%<{[ \t\r\n\x00\xef\xff\xfe")


DEFAULT_PDF = PdfOptions()


def read(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES, pdf: PdfOptions = DEFAULT_PDF
) -> Document:
    """The document's values in its syntax, whatever the bytes; never raises.

    `max_bytes` bounds what a PDF's embedded file may decompress to (SPEC 2.5); `pdf` says
    how a PDF without one is read (OCR, languages, time limit, templates: SPEC 2.6, 8).
    """
    if data and data[0] not in _MAYBE_NOT_TEXT:  # the hot path of text-v1
        return text.parse(data)
    kind = container(data)
    if kind is Kind.TEXT:
        return text.parse(data)
    if kind is Kind.JSON:
        problem = Problem(Reason.UNSUPPORTED_FORMAT, _JSON)
        return ParsedDocument(problems=(problem,), format=Format.UNKNOWN)
    return read_einvoice(data, max_bytes=max_bytes, pdf=pdf)


def describe(doc: Document) -> str:
    """One line for the parse step's log: what was read."""
    if isinstance(doc, EInvoiceDocument):
        return f"{doc.summary}: {len(doc.lines)} lines, {len(doc.taxes)} VAT breakdown rows"
    if isinstance(doc, ExtractedDocument):
        return f"{doc.summary}: {len(doc.fields)} fields from {doc.pages} page(s)"
    return f"{doc.format}: {len(doc.fields)} header fields and {len(doc.items)} items"
