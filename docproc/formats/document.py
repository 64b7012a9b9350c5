"""What readers produce: a document's values as written, in its own syntax, no rule applied.

Every reader of `docproc.formats` returns one of these and every rule set of
`docproc.rules` reads one: text format v1's header fields and item lines
(`ParsedDocument`), an e-invoice's EN 16931 business terms (`EInvoiceDocument`), or
the fields a template read from a plain PDF (`ExtractedDocument`).
Values stay text so that the rules can judge them as written (`1.500` has three
decimals, as the official BR-DEC rules count).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from docproc.models import Format, Problem, Reason

# Text format v1's header fields (`ParsedDocument.fields`), and how SPEC section 2.1 names each.
FIELD_NAMES: tuple[str, ...] = (
    "customer_id",
    "invoice_id",
    "date",
    "seller",
    "buyer",
    "amount",
    "total",
    "in_words",
)
FIELD_LABELS: dict[str, str] = {
    "customer_id": "Customer-ID",
    "invoice_id": "Inv-ID",
    "date": "Dated",
    "seller": "From",
    "buyer": "To",
    "amount": "Amount",
    "total": "Total",
    "in_words": "InWords",
}
# Factur-X / ZUGFeRD 2.x profiles that carry no lines (BT-106 may then be absent).
_LINELESS_PROFILE = re.compile(r"(?i).*[:#](minimum|basicwl)$")


@dataclass(frozen=True)
class RawItem:
    """An item line as written: numbers still text (the validator converts them)."""

    line_no: int
    description: str
    amount: str
    tax: str | None


@dataclass(frozen=True)
class ParsedDocument:
    """The syntax of a document: header values and lines as written, no rules applied.

    `fields` maps canonical names (see `FIELD_NAMES`) to raw values;
    `problems` holds what was already wrong while reading (not_text,
    empty_document, duplicate_field, unreadable item lines, unsupported_format).
    `format` is the syntax it was read as (SPEC section 2).
    """

    fields: dict[str, str] = field(default_factory=dict)
    taxes: tuple[tuple[str, str], ...] = ()
    items: tuple[RawItem, ...] = ()
    currency: str | None = None
    problems: tuple[Problem, ...] = ()
    format: Format = Format.TEXT_V1

    @property
    def invoice_id(self) -> str | None:
        """The invoice number as written (for run names), as `EInvoiceDocument` offers it."""
        return self.fields.get("invoice_id", "").strip() or None


@dataclass(frozen=True)
class RawDate:
    """A date as written, with the notation it claims: `iso` (UBL) or a CII format code."""

    text: str
    form: str = "iso"


@dataclass(frozen=True)
class RawLine:
    """One invoice line (BG-25) as written."""

    line_no: int
    line_id: str | None = None
    description: str | None = None
    quantity: str | None = None
    unit_code: str | None = None
    unit_price: str | None = None
    amount: str | None = None
    tax_category: str | None = None
    tax_rate: str | None = None


@dataclass(frozen=True)
class RawTax:
    """One VAT breakdown row (BG-23) as written."""

    kind: str
    category: str | None = None
    rate: str | None = None
    taxable_amount: str | None = None
    amount: str | None = None


@dataclass(frozen=True)
class RawAllowanceCharge:
    """One document-level allowance (BG-20) or charge (BG-21) as written."""

    charge: bool
    amount: str | None = None
    category: str | None = None
    rate: str | None = None


@dataclass(frozen=True)
class EInvoiceDocument:
    """What a reader found in an e-invoice: business terms as written, no rule applied.

    `problems` holds what already kept the document from being read (malformed,
    unsafe, unsupported, too large); when it is not empty the other values are unset.
    `syntax` is the vocabulary read (UBL or CII); `format` is what SPEC records (a CII
    or UBL file embedded in a PDF is `factur-x`).
    """

    format: Format
    syntax: Format = Format.UNKNOWN
    problems: tuple[Problem, ...] = ()
    credit_note_root: bool = False
    invoice_id: str | None = None
    type_code: str | None = None
    profile: str | None = None
    invoice_date: RawDate | None = None
    due_date: RawDate | None = None
    seller: str | None = None
    seller_tax_id: str | None = None
    buyer: str | None = None
    buyer_tax_id: str | None = None
    customer_id: str | None = None
    issuer_key: str | None = None
    currency: str | None = None
    amount: str | None = None
    allowance_total: str | None = None
    charge_total: str | None = None
    net_total: str | None = None
    tax_total: str | None = None
    total: str | None = None
    prepaid: str | None = None
    rounding: str | None = None
    payable: str | None = None
    lines: tuple[RawLine, ...] = ()
    taxes: tuple[RawTax, ...] = ()
    allowances_charges: tuple[RawAllowanceCharge, ...] = ()
    # The XML the hardened parser accepted (a PDF's attachment, not the PDF): what the
    # official rules (SPEC 3.1) are run on, so that Saxon never sees refused bytes.
    xml: bytes | None = field(default=None, repr=False, compare=False)

    @classmethod
    def failed(cls, fmt: Format, problem: Problem) -> EInvoiceDocument:
        """A document that could not be read at all."""
        return cls(format=fmt, problems=(problem,))

    @property
    def summary(self) -> str:
        """One line for logs and run names: the invoice number as written, and who sent it."""
        if self.problems:
            return f"unreadable {self.format.value} document ({self.problems[0].reason.value})"
        number = self.invoice_id or "(no invoice number)"
        return f"{number} from {self.seller or '(no seller)'} ({self.format.value})"

    @property
    def lineless_profile(self) -> bool:
        """Factur-X MINIMUM and BASIC WL carry no lines, and may omit BT-106."""
        return self.profile is not None and _LINELESS_PROFILE.fullmatch(self.profile) is not None


# What a `no_template` report shows of a PDF's text, so that a user can write one (SPEC 2.6).
TEXT_HEAD_LINES = 40


@dataclass(frozen=True)
class ExtractedDocument:
    """A PDF without an embedded invoice, read by a template (SPEC 2.6): the fields as the
    invoice2data template gave them (text, numbers, datetimes, lists of line dicts), no
    rule applied.

    `template` is the template's name (its file name without `.yml`), None when none
    matched; `text_head` is the first lines of the text, for `no_template`; `problems`
    holds what kept it from being read (malformed_document, no_text, no_template, a
    template that failed).
    """

    format: Format
    problems: tuple[Problem, ...] = ()
    template: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    text_head: tuple[str, ...] = ()
    pages: int = 0

    @property
    def invoice_id(self) -> str | None:
        """The invoice number as the template read it (for run names)."""
        value = self.fields.get("invoice_number")
        return str(value).strip() or None if value is not None else None

    @property
    def profile(self) -> str | None:
        """`template:<name>`, as SPEC 2.6 records it."""
        return f"template:{self.template}" if self.template else None

    @property
    def summary(self) -> str:
        """One line for logs: the invoice number, the template and the format."""
        if self.template is None:
            what = self.problems[0].reason.value if self.problems else "no template"
            return f"unreadable {self.format.value} document ({what})"
        number = self.invoice_id or "(no invoice number)"
        return f"{number} by template {self.template} ({self.format.value})"


Document = ParsedDocument | EInvoiceDocument | ExtractedDocument


def oversized(size: int, limit: int) -> ParsedDocument:
    """Stand in for the read of a document too large to download (its size is known from
    the listing), so that it is judged like any other and gets `too_large`."""
    return ParsedDocument(
        problems=(
            Problem(
                Reason.TOO_LARGE,
                f"the document has {size} bytes, more than the limit of {limit} "
                "(DOCPROC_MAX_DOCUMENT_BYTES)",
            ),
        ),
        format=Format.UNKNOWN,
    )
