"""The values that cross docproc's layers: plain, frozen, Prefect-free."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

# SPEC section 8: DOCPROC_MAX_DOCUMENT_BYTES's default, the readers' bound when none is given.
DEFAULT_MAX_DOCUMENT_BYTES = 10 * 1024 * 1024


class Reason(StrEnum):
    """Rejection reason codes of SPEC section 3, in the SPEC's order."""

    TOO_LARGE = "too_large"
    EMPTY_DOCUMENT = "empty_document"
    NOT_TEXT = "not_text"
    MALFORMED_DOCUMENT = "malformed_document"
    UNSUPPORTED_FORMAT = "unsupported_format"
    NO_TEXT = "no_text"
    NO_TEMPLATE = "no_template"
    RULE_VIOLATION = "rule_violation"
    UNSAFE_CONTENT = "unsafe_content"
    MISSING_FIELD = "missing_field"
    DUPLICATE_FIELD = "duplicate_field"
    BAD_ID = "bad_id"
    BAD_NUMBER = "bad_number"
    BAD_DATE = "bad_date"
    NEGATIVE_AMOUNT = "negative_amount"
    ITEMS_SUM_MISMATCH = "items_sum_mismatch"
    ALLOWANCE_CHARGE_MISMATCH = "allowance_charge_mismatch"
    TAX_SUM_MISMATCH = "tax_sum_mismatch"
    TAX_BREAKDOWN_MISMATCH = "tax_breakdown_mismatch"
    TOTAL_MISMATCH = "total_mismatch"
    PAYABLE_MISMATCH = "payable_mismatch"
    WORDS_MISMATCH = "words_mismatch"
    CONFLICTING_DUPLICATE = "conflicting_duplicate"


class Format(StrEnum):
    """The syntaxes of SPEC section 2, as recorded in `format`."""

    TEXT_V1 = "text-v1"
    UBL = "ubl"
    CII = "cii"
    FACTUR_X = "factur-x"
    PDF_TEXT = "pdf-text"
    PDF_OCR = "pdf-ocr"
    UNKNOWN = "unknown"


class DocumentType(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class Status(StrEnum):
    """What happened to one object version; the first three are `documents.status` (SPEC 4)."""

    LOADED = "loaded"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    SKIPPED = "skipped"
    FAILED = "failed"


REASON_ORDER: dict[Reason, int] = {r: i for i, r in enumerate(Reason)}


@dataclass(frozen=True)
class Problem:
    """One failed rule: a reason code and a sentence a person can act on."""

    reason: Reason
    detail: str


class Flag(StrEnum):
    """What a `documents` row says of a document beyond its status (SPEC section 4)."""

    POSSIBLE_DUPLICATE = "possible_duplicate"  # SPEC 10: a look-alike of another number
    EXTRACTED = "extracted"  # SPEC 2.6: values read by a template, not the sender's data
    NONCONFORMANT = "nonconformant"  # SPEC 3.1: a fatal finding of the official rules
    REVIEWED = "reviewed"  # SPEC 12: a person decided its question


class OfficialRules(StrEnum):
    """`DOCPROC_OFFICIAL_RULES` (SPEC 3.1): what the official rules' findings do."""

    REPORT = "report"  # stored and shown; a fatal one flags a loaded invoice nonconformant
    ENFORCE = "enforce"  # a fatal one rejects the document rule_violation
    OFF = "off"  # not run


class FindingFlag(StrEnum):
    """How the official rules rate a failed assertion (SPEC 3.1); no flag is fatal."""

    FATAL = "fatal"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One failed assertion of the official rules (SPEC 3.1): stored, reported and shown
    beside the verdict, so it lives here with `Problem` rather than with the engine."""

    rule: str
    flag: FindingFlag
    location: str  # an XPath into the document
    message: str  # the rule's own text

    def as_json(self) -> dict[str, str]:
        """As `validate --json`, the rejection report and `document_findings` name it."""
        return {
            "rule": self.rule,
            "flag": str(self.flag),
            "location": self.location,
            "message": self.message,
        }


@dataclass(frozen=True)
class ObjectRef:
    """One S3 object version; `etag` is unquoted, None when not yet known."""

    bucket: str
    key: str
    etag: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class ListedObject:
    """An object as a listing names it: enough to skip it, or refuse it, without a GET."""

    ref: ObjectRef
    size: int


@dataclass(frozen=True)
class FetchedObject:
    """An object as fetched: `body` is None when it was too large to download."""

    ref: ObjectRef
    size: int
    body: bytes | None
    sha256: str | None


@dataclass(frozen=True)
class Item:
    """One invoice line (SPEC section 4, `invoice_items`); e-invoice terms default to None."""

    line_no: int
    description: str
    amount: Decimal
    tax: Decimal | None
    line_id: str | None = None
    quantity: Decimal | None = None
    unit_code: str | None = None
    unit_price: Decimal | None = None
    tax_category: str | None = None
    tax_rate: Decimal | None = None


@dataclass(frozen=True)
class Tax:
    """One tax breakdown entry (SPEC section 4, `invoice_taxes`)."""

    kind: str
    amount: Decimal
    category: str | None = None
    rate: Decimal | None = None
    taxable_amount: Decimal | None = None


@dataclass(frozen=True)
class Invoice:
    """A document that passed every rule of SPEC section 3, in any format (SPEC section 4).

    The fields after `taxes` are schema v2's; left unset they take text-v1's values
    (SPEC section 4): the customer is the issuer, net = amount, payable = total.
    """

    customer_id: str | None
    invoice_id: str
    invoice_date: date
    seller: str
    buyer: str
    currency: str | None
    amount: Decimal
    tax_total: Decimal
    total: Decimal
    total_in_words: str | None
    items: tuple[Item, ...] = ()
    taxes: tuple[Tax, ...] = ()
    issuer_key: str = ""
    format: Format = Format.TEXT_V1
    document_type: DocumentType = DocumentType.INVOICE
    type_code: str | None = None
    profile: str | None = None
    due_date: date | None = None
    seller_tax_id: str | None = None
    buyer_tax_id: str | None = None
    allowance_total: Decimal = Decimal("0.00")
    charge_total: Decimal = Decimal("0.00")
    net_total: Decimal | None = None
    prepaid: Decimal = Decimal("0.00")
    rounding: Decimal = Decimal("0.00")
    payable: Decimal | None = None
    # The official rules' findings (SPEC 3.1): stored beside the document, not the invoice.
    findings: tuple[Finding, ...] = field(default=(), compare=False)

    @property
    def flags(self) -> tuple[Flag, ...]:
        """The flags a loaded invoice carries by itself (the loader adds possible_duplicate)."""
        flags = []
        if self.format in (Format.PDF_TEXT, Format.PDF_OCR):
            flags.append(Flag.EXTRACTED)
        if any(f.flag is FindingFlag.FATAL for f in self.findings):
            flags.append(Flag.NONCONFORMANT)
        return tuple(flags)

    def __post_init__(self) -> None:
        if not self.issuer_key:
            object.__setattr__(self, "issuer_key", self.customer_id or "")
        if self.net_total is None:
            object.__setattr__(self, "net_total", self.amount)
        if self.payable is None:
            object.__setattr__(self, "payable", self.total)


@dataclass(frozen=True)
class Rejection:
    """A document that failed: every reason that applies, each with its detail.

    `format` is the syntax it was read as; the ids are those read from it, kept only
    where they pass the id rule (they go into `documents` and the report).
    """

    problems: tuple[Problem, ...]
    format: Format = Format.UNKNOWN
    issuer_key: str | None = None
    customer_id: str | None = None
    invoice_id: str | None = None
    findings: tuple[Finding, ...] = ()  # the official rules' (SPEC 3.1)

    @property
    def reasons(self) -> tuple[Reason, ...]:
        """Unique codes in SPEC order."""
        return tuple(sorted({p.reason for p in self.problems}, key=REASON_ORDER.__getitem__))

    @property
    def details(self) -> tuple[str, ...]:
        return tuple(p.detail for p in self.problems)


@dataclass(frozen=True)
class Outcome:
    """What happened to one object: what the CLI prints and the flow run returns."""

    status: Status
    uri: str
    message: str
    reasons: tuple[str, ...] = ()
    output: str | None = None  # the CSV or the rejection report, as s3://bucket/key
