"""Whether a second document under one invoice number is the same invoice (SPEC section 10).

Paying one invoice twice, and paying one whose amount or bank details changed under a
number already seen, are the commonest invoice frauds. The comparison is of business
values only: every invoice, item and tax column except `format`, `profile`, the
`source_*` columns, `content_sha256` and `loaded_at`, so that the same invoice sent as
UBL and as a Factur-X PDF is the same. Plain code, no database: `loader` calls it
inside the invoice's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from docproc.models import Flag, Invoice, Item, ObjectRef, Reason, Rejection, Status, Tax

# Invoice fields that say how or where a document was written, not what it bills (the
# official rules' findings judge the document, not the invoice).
NOT_BUSINESS = frozenset({"format", "profile", "items", "taxes", "findings"})
POSSIBLE_DUPLICATE = Flag.POSSIBLE_DUPLICATE


class Kind(StrEnum):
    """What the loader did with a valid invoice."""

    LOADED = "loaded"  # a new (issuer_key, invoice_id), or the same document again
    DUPLICATE = "duplicate"  # the same values from another document: nothing changes
    CONFLICT = "conflict"  # other values under a number already loaded: held
    REPLACED = "replaced"  # other values, accepted by the replace policy


@dataclass(frozen=True)
class Difference:
    """One value that differs: `field` names it as `total`, `item 2 amount`, `tax 1 rate`."""

    field: str
    old: str
    new: str


@dataclass(frozen=True)
class LoadedDocument:
    """The document an invoice's rows came from; `id` is its `documents` row, when it has one."""

    ref: ObjectRef
    invoice_id: str
    id: int | None = None

    @property
    def uri(self) -> str:
        return self.ref.uri


def show(value: object) -> str:
    """A value as a person compares it: numbers without trailing zeros, ISO dates, '' for none."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        # Two decimals at least, as money is written; more only where the value has them.
        exponent = value.normalize().as_tuple().exponent
        return (
            f"{value:.2f}"
            if isinstance(exponent, int) and exponent >= -2
            else format(value.normalize(), "f")
        )
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _values(record: Invoice | Item | Tax, skip: frozenset[str] = frozenset()) -> dict[str, str]:
    return {f.name: show(getattr(record, f.name)) for f in fields(record) if f.name not in skip}


def business_values(invoice: Invoice) -> dict[str, str]:
    """Every business value of the invoice, named as `differences` names it."""
    values = _values(invoice, NOT_BUSINESS)
    for item in invoice.items:
        for name, value in _values(item, frozenset({"line_no"})).items():
            values[f"item {item.line_no} {name}"] = value
    for number, tax in enumerate(invoice.taxes, start=1):
        for name, value in _values(tax).items():
            values[f"tax {number} {name}"] = value
    return values


def _canonical(value: str) -> str:
    """Equal numbers compare equal whatever the decimals written or stored (2.5 = 2.50)."""
    try:
        number = Decimal(value)
    except ArithmeticError:
        return value
    return format(number.normalize(), "f") if number.is_finite() else value


def differences(old: Invoice, new: Invoice) -> tuple[Difference, ...]:
    """Every business value that differs, old and new; an item or tax only on one side
    shows as its values against ''. Empty when the two are the same invoice."""
    before, after = business_values(old), business_values(new)
    names = list(before) + [n for n in after if n not in before]
    return tuple(
        Difference(name, before.get(name, ""), after.get(name, ""))
        for name in names
        if _canonical(before.get(name, "")) != _canonical(after.get(name, ""))
    )


@dataclass(frozen=True)
class Decision:
    """One valid invoice's fate, decided under the lock of its row, and why."""

    invoice: Invoice
    ref: ObjectRef
    kind: Kind
    other: LoadedDocument | None = (
        None  # the loaded document it duplicates, conflicts with, replaced
    )
    differences: tuple[Difference, ...] = ()
    suspect_of: LoadedDocument | None = None  # another number with the same total, currency, date

    @property
    def writes(self) -> bool:
        """Whether the invoice's rows and CSV become this document's."""
        return self.kind in (Kind.LOADED, Kind.REPLACED)

    @property
    def flags(self) -> tuple[str, ...]:
        """The `documents` row's flags: possible_duplicate, and the invoice's own."""
        mine = (POSSIBLE_DUPLICATE,) if self.suspect_of is not None else ()
        return (*mine, *self.invoice.flags)


def status_of(judged: Decision | Rejection) -> tuple[Status, tuple[str, ...]]:
    """The `documents` status and reasons (SPEC sections 4 and 10) of an invoice as the
    loader judged it, or of a rejected document."""
    if isinstance(judged, Rejection):
        return Status.REJECTED, judged.reasons
    if judged.kind == Kind.CONFLICT:
        return Status.REJECTED, (Reason.CONFLICTING_DUPLICATE,)
    if judged.kind == Kind.DUPLICATE:
        return Status.DUPLICATE, ()
    return Status.LOADED, ()


def decide(
    invoice: Invoice,
    ref: ObjectRef,
    current: tuple[Invoice, LoadedDocument] | None,
    replace: bool,
) -> Decision:
    """The rule of SPEC section 10 for one document against what its number holds now."""
    if current is None:
        return Decision(invoice, ref, Kind.LOADED)
    loaded, source = current
    if source.ref == ref:
        # The same object version again (a retry, --force): loading is idempotent.
        return Decision(invoice, ref, Kind.LOADED)
    diffs = differences(loaded, invoice)
    if not diffs:
        return Decision(invoice, ref, Kind.DUPLICATE, source)
    return Decision(invoice, ref, Kind.REPLACED if replace else Kind.CONFLICT, source, diffs)


class Signature(NamedTuple):
    """What makes two invoice numbers of one issuer look like one invoice billed twice."""

    issuer_key: str
    invoice_id: str
    total: Decimal
    currency: str | None
    invoice_date: date


def signature(invoice: Invoice) -> Signature:
    return Signature(
        invoice.issuer_key,
        invoice.invoice_id,
        invoice.total,
        invoice.currency,
        invoice.invoice_date,
    )


def resembles(invoice: Invoice, other: Signature) -> bool:
    """Another number from the same issuer with the same total, currency and date."""
    return (
        invoice.issuer_key == other.issuer_key
        and invoice.invoice_id != other.invoice_id
        and invoice.total == other.total
        and invoice.currency == other.currency
        and invoice.invoice_date == other.invoice_date
    )


def conflict_detail(decision: Decision) -> str:
    """The sentence a rejection report gives for a held conflict."""
    other = decision.other.uri if decision.other else "another document"
    changed = "; ".join(f"{d.field}: {d.old!r} -> {d.new!r}" for d in decision.differences)
    return (
        f"invoice {decision.invoice.issuer_key}/{decision.invoice.invoice_id} is already "
        f"loaded from {other} with other values ({changed})"
    )
