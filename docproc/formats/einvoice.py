"""The entry point for e-invoices: bytes (a PDF or XML) -> EN 16931's business terms.

`read_einvoice` recognises the container from the bytes (SPEC section 2), takes the
embedded invoice out of a PDF (2.4), parses the XML through the one hardened door
(2.5) and maps UBL (2.2) or CII (2.3) onto EN 16931's terms. Given `pdf` options, a PDF
that embeds no XML file goes to the template reader instead (2.6, `plainpdf`). It never
raises: a bad document is a result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, overload

from lxml import etree

from docproc.formats import cii, ubl
from docproc.formats.document import EInvoiceDocument, ExtractedDocument
from docproc.formats.sniff import Kind, container
from docproc.formats.xml import parse
from docproc.models import Format, Problem, Reason
from docproc.rules.problems import never_raises

if TYPE_CHECKING:
    from docproc.formats.plainpdf import PdfOptions

ORDER_X_NS = "urn:un:unece:uncefact:data:SCRDMCCBDACIOMessageStructure:100"
# (root, the format to record, the XML it was parsed from) -> the document
_Reader = Callable[[etree._Element, Format, bytes], EInvoiceDocument]
# Root element -> its reader and the format it records when not inside a PDF.
_READERS: dict[str, tuple[_Reader, Format]] = {
    ubl.INVOICE: (ubl.read, Format.UBL),
    ubl.CREDIT_NOTE: (ubl.read, Format.UBL),
    cii.ROOT: (cii.read, Format.CII),
}


def _unreadable(
    exc: Exception, data: bytes, *, max_bytes: int, pdf: PdfOptions | None = None
) -> EInvoiceDocument | ExtractedDocument:
    return EInvoiceDocument.failed(
        Format.UNKNOWN,
        Problem(Reason.MALFORMED_DOCUMENT, f"the document could not be read ({exc!r})"),
    )


@overload
def read_einvoice(data: bytes, *, max_bytes: int, pdf: None = None) -> EInvoiceDocument: ...
@overload
def read_einvoice(
    data: bytes, *, max_bytes: int, pdf: PdfOptions
) -> EInvoiceDocument | ExtractedDocument: ...
@never_raises(_unreadable)
def read_einvoice(
    data: bytes, *, max_bytes: int, pdf: PdfOptions | None = None
) -> EInvoiceDocument | ExtractedDocument:
    """The e-invoice in `data`, its problems carried in the result; never raises.

    Without `pdf`, a PDF that embeds no XML is `unsupported_format` (an e-invoice reader
    alone); with it, that PDF is read by templates under those options."""
    return _read(data, max_bytes, pdf)


def _read(
    data: bytes, max_bytes: int, pdf: PdfOptions | None
) -> EInvoiceDocument | ExtractedDocument:
    if len(data) > max_bytes:
        return EInvoiceDocument.failed(
            Format.UNKNOWN,
            Problem(Reason.TOO_LARGE, f"the document has more than {max_bytes} bytes"),
        )
    kind = container(data)
    if kind is Kind.PDF:
        # pypdf (and the cryptography it loads) costs a fifth of a second of every
        # process start; most runs never see a PDF.
        from docproc.formats.pdf import embedded_invoice

        xml = embedded_invoice(data, max_bytes=max_bytes, is_invoice=_is_invoice)
        if xml is None:
            if pdf is None:
                return EInvoiceDocument.failed(
                    Format.UNKNOWN,
                    Problem(Reason.UNSUPPORTED_FORMAT, "the PDF embeds no UBL or CII invoice"),
                )
            from docproc.formats.plainpdf import read_plain_pdf

            return read_plain_pdf(data, pdf)
        if isinstance(xml, Problem):
            return EInvoiceDocument.failed(Format.UNKNOWN, xml)
        return _read_xml(xml, Format.FACTUR_X)
    if kind is Kind.XML:
        return _read_xml(data, None)
    return EInvoiceDocument.failed(
        Format.UNKNOWN,
        Problem(
            Reason.UNSUPPORTED_FORMAT,
            f"{kind.value} is not an e-invoice (UBL or CII XML, or a PDF embedding one)",
        ),
    )


def _read_xml(data: bytes, fmt: Format | None) -> EInvoiceDocument:
    """`fmt` is what to record (factur-x for a PDF's attachment), None for the syntax's own."""
    root = parse(data)
    if isinstance(root, Problem):
        return EInvoiceDocument.failed(fmt or Format.UNKNOWN, root)
    if (entry := _READERS.get(root.tag)) is not None:
        reader, own = entry
        return reader(root, fmt or own, data)
    return EInvoiceDocument.failed(
        fmt or Format.UNKNOWN, Problem(Reason.UNSUPPORTED_FORMAT, _vocabulary(root))
    )


def _is_invoice(xml: bytes) -> bool:
    root = parse(xml)
    return isinstance(root, etree._Element) and root.tag in _READERS


def _vocabulary(root: etree._Element) -> str:
    """Why a well-formed XML document is not one we read, in words a sender understands."""
    namespace = etree.QName(root).namespace or ""
    if namespace == cii.ZUGFERD_1_NS:
        return "ZUGFeRD 1.0 is not supported (only ZUGFeRD 2.x / Factur-X CII)"
    if namespace == ORDER_X_NS:
        return "this is an Order-X order, not an invoice"
    return f"XML root {root.tag!r} is neither a UBL Invoice or CreditNote nor a CII invoice"
