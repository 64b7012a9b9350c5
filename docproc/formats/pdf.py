"""The embedded invoice of a PDF (Factur-X / ZUGFeRD 2.x, XRechnung in PDF): SPEC section 2.4.

The one door for PDF bytes: pypdf reads them under decompression limits of our own
(`max_bytes`, held in pypdf's context-local configuration so that no other caller is
affected), and any of the many exceptions a broken PDF makes pypdf raise becomes a
Problem here. The EmbeddedFiles name tree is walked directly, with bounds, so that
nested /Kids and a file known only by its /UF or /F name are found too.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

from pypdf import PasswordType, PdfReader, apply_configuration
from pypdf.errors import LimitReachedError
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, PdfObject, StreamObject

from docproc.models import Problem, Reason

# The names SPEC 2.4 prefers, in order (compared case-insensitively).
PREFERRED_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml")
_XML_SUBTYPES = frozenset({"/text/xml", "/application/xml"})  # pypdf decodes #2F to /
# Bounds on the name tree walk: a real PDF has one level and a handful of files.
_MAX_TREE_DEPTH = 32
_MAX_TREE_NODES = 10_000
# pypdf retries a corrupt Flate stream byte by byte (about a second per MiB of CPU);
# a compressed invoice is far smaller than this.
_MAX_RECOVERY_INPUT = 512 * 1024


@dataclass(frozen=True)
class _Attachment:
    names: tuple[str, ...]
    stream: StreamObject
    subtype: str


def embedded_invoice(
    data: bytes, *, max_bytes: int, is_invoice: Callable[[bytes], bool]
) -> bytes | Problem | None:
    """The bytes of the PDF's embedded invoice, or the Problem that keeps them out, or
    None for a PDF that embeds no XML file at all (a plain PDF, read as SPEC 2.6 says).

    `is_invoice` tells whether an embedded XML file is a UBL or CII invoice, for a PDF
    whose invoice has none of the preferred names. Never raises.
    """
    limit = max_bytes + 1
    try:
        with apply_configuration(
            zlib_maximum_output_length=limit,
            lzw_maximum_output_length=limit,
            run_length_maximum_output_length=limit,
            brotli_maximum_output_length=limit,
            jbig2_maximum_output_length=limit,
            array_based_stream_maximum_output_length=limit,
            stream_decoding_work_maximum_length=4 * limit,
            zlib_maximum_recovery_input_length=_MAX_RECOVERY_INPUT,
        ):
            return _embedded_invoice(data, max_bytes, is_invoice)
    except LimitReachedError as exc:
        if "Recovery" in str(exc):  # a corrupt stream, not a large one
            return Problem(Reason.MALFORMED_DOCUMENT, f"the PDF cannot be read: {exc}")
        return Problem(
            Reason.TOO_LARGE,
            f"the PDF holds data larger than {max_bytes} bytes once decompressed ({exc})",
        )
    except RecursionError:
        return Problem(Reason.MALFORMED_DOCUMENT, "the PDF cannot be read: it nests too deep")
    except Exception as exc:  # pypdf raises many types for broken PDFs; this is the one door
        return Problem(Reason.MALFORMED_DOCUMENT, f"the PDF cannot be read: {exc!r}"[:300])


def _embedded_invoice(
    data: bytes, max_bytes: int, is_invoice: Callable[[bytes], bool]
) -> bytes | Problem | None:
    reader = PdfReader(io.BytesIO(data), strict=False)
    # An owner password only restricts printing and opens with the empty user password.
    if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
        return Problem(Reason.MALFORMED_DOCUMENT, "the PDF cannot be read: it needs a password")
    attachments = _attachments(reader.trailer["/Root"])
    for preferred in PREFERRED_NAMES:
        for attachment in attachments:
            if any(name.lower() == preferred for name in attachment.names):
                return _content(attachment, max_bytes)
    invoices: list[tuple[_Attachment, bytes]] = []
    any_xml = False
    for attachment in attachments:
        is_xml = attachment.subtype in _XML_SUBTYPES or any(
            name.lower().endswith(".xml") for name in attachment.names
        )
        if not is_xml:
            continue
        any_xml = True
        content = _content(attachment, max_bytes)
        if isinstance(content, Problem):
            return content
        if is_invoice(content):
            invoices.append((attachment, content))
    if len(invoices) == 1:
        return invoices[0][1]
    if invoices:
        names = ", ".join(repr(a.names[0]) for a, _ in invoices)
        return Problem(
            Reason.UNSUPPORTED_FORMAT,
            f"the PDF embeds {len(invoices)} invoices ({names}) and names none of them "
            f"{' or '.join(PREFERRED_NAMES)}",
        )
    if not any_xml:
        return None  # a plain PDF: its pages are the invoice (SPEC 2.6)
    found = ", ".join(repr(a.names[0]) for a in attachments)
    return Problem(
        Reason.UNSUPPORTED_FORMAT,
        f"the PDF embeds no UBL or CII invoice (it embeds {found})",
    )


def _attachments(root: PdfObject) -> list[_Attachment]:
    """Every embedded file of the catalog's /Names /EmbeddedFiles tree, in tree order."""
    catalog = root.get_object()
    if not isinstance(catalog, DictionaryObject):
        return []
    names = catalog.get("/Names")
    names = names.get_object() if names is not None else None
    if not isinstance(names, DictionaryObject) or "/EmbeddedFiles" not in names:
        return []
    found: list[_Attachment] = []
    seen: set[int] = set()
    pending: list[tuple[PdfObject, int]] = [(names["/EmbeddedFiles"], 0)]
    while pending and len(seen) < _MAX_TREE_NODES:
        ref, depth = pending.pop()
        key = id(ref.get_object()) if not isinstance(ref, IndirectObject) else ref.idnum
        if key in seen or depth > _MAX_TREE_DEPTH:
            continue
        seen.add(key)
        node = ref.get_object()
        if not isinstance(node, DictionaryObject):
            continue
        pairs = node.get("/Names")
        pairs = pairs.get_object() if pairs is not None else None
        if isinstance(pairs, ArrayObject):
            for i in range(0, len(pairs) - 1, 2):
                attachment = _attachment(pairs[i].get_object(), pairs[i + 1].get_object())
                if attachment is not None:
                    found.append(attachment)
        kids = node.get("/Kids")
        kids = kids.get_object() if kids is not None else None
        if isinstance(kids, ArrayObject):
            pending.extend((kid, depth + 1) for kid in reversed(kids))
    return found


def _attachment(key: object, spec: object) -> _Attachment | None:
    """One file specification: its names (tree key, /UF, /F) and its stream."""
    if not isinstance(spec, DictionaryObject):
        return None
    names = [str(key)]
    for entry in ("/UF", "/F"):
        value = spec.get(entry)
        if value is not None and str(value.get_object()) not in names:
            names.append(str(value.get_object()))
    ef = spec.get("/EF")
    ef = ef.get_object() if ef is not None else None
    if not isinstance(ef, DictionaryObject):
        return None
    for entry in ("/UF", "/F"):
        stream = ef.get(entry)
        stream = stream.get_object() if stream is not None else None
        if isinstance(stream, StreamObject):
            subtype = stream.get("/Subtype")
            return _Attachment(tuple(names), stream, str(subtype) if subtype else "")
    return None


def _content(attachment: _Attachment, max_bytes: int) -> bytes | Problem:
    """The decoded file, bounded: pypdf's decoders stop at `max_bytes` + 1 (our limits)."""
    content = attachment.stream.get_data()
    if len(content) > max_bytes:
        return Problem(
            Reason.TOO_LARGE,
            f"the embedded file {attachment.names[0]!r} is larger than {max_bytes} bytes "
            "once decompressed",
        )
    return content
