"""Text format v1's rules (SPEC section 3): a parsed document becomes an Invoice or a Rejection.

Every rule that applies is reported, so one report tells the sender all there is to fix.
A rule that needs a value that is itself wrong (a sum over an amount that is no number)
is skipped: its cause is already reported (an item line the parser could not read
leaves the item sums unknown too). A document that is too large, not text or empty gets
only that code, since nothing in it could be read.
"""

from __future__ import annotations

from decimal import Context, Decimal, localcontext

from docproc.dates import parse_date
from docproc.formats.document import FIELD_LABELS, ParsedDocument
from docproc.ids import MAX_ID_LENGTH, id_problem, is_id
from docproc.models import Format, Invoice, Item, Problem, Reason, Rejection, Tax
from docproc.money import parse_money
from docproc.rules.problems import ProblemLog, never_raises
from docproc.words import words_to_int

_REQUIRED = ("customer_id", "invoice_id", "date", "seller", "buyer", "amount", "total")
_ZERO = Decimal("0.00")
_UNREADABLE = (
    Reason.TOO_LARGE,
    Reason.NOT_TEXT,
    Reason.EMPTY_DOCUMENT,
    Reason.UNSUPPORTED_FORMAT,
)
# Sums stay exact whatever decimal context the caller has set: a million items of
# 13 integer digits need 21 digits.
_CONTEXT = Context(prec=40)


def _unjudged(exc: Exception, doc: ParsedDocument) -> Invoice | Rejection:
    problem = Problem(Reason.BAD_NUMBER, f"the document could not be validated ({exc!r})")
    return _rejection(doc, (problem,))


@never_raises(_unjudged)
def validate(doc: ParsedDocument) -> Invoice | Rejection:
    """Apply every rule; never raises (a bad document is a result, not a crash)."""
    with localcontext(_CONTEXT):
        return _validate(doc)


def _validate(doc: ParsedDocument) -> Invoice | Rejection:
    """One pass over the values, everything in locals: this is on the hot path."""
    problems = ProblemLog(doc.problems)
    if problems and any(reason in problems for reason in _UNREADABLE):
        return _rejection(doc, problems.result())
    # An item line the parser could not read leaves the item sums unknown, as a bad number does.
    items_sum: Decimal | None = None if Reason.BAD_NUMBER in problems else _ZERO
    taxes_sum: Decimal | None = items_sum
    fields = doc.fields
    for name in _REQUIRED:
        if not fields.get(name, "").strip():
            problems.add(Reason.MISSING_FIELD, f"{FIELD_LABELS[name]} is missing or blank")
    # A v1 document's Customer-ID is its issuer_key (SPEC 2.1), so both ids follow the rule.
    for name in ("customer_id", "invoice_id"):
        raw = fields.get(name, "").strip()
        if raw and not is_id(raw):
            problems.add(
                Reason.BAD_ID,
                f"{FIELD_LABELS[name]} {raw[:70]!r} {id_problem(raw)}: an id must be 1 to "
                f"{MAX_ID_LENGTH} characters of printable ASCII and not only dots",
            )
    raw_amount, raw_total = fields.get("amount", "").strip(), fields.get("total", "").strip()
    amount = _money(problems, raw_amount, "Amount") if raw_amount else None
    total = _money(problems, raw_total, "Total") if raw_total else None

    tax_total: Decimal | None = _ZERO
    per_kind: dict[str, Decimal] = {}
    for kind, raw in doc.taxes:
        value = _money(problems, raw, "tax line", kind)
        if value is None or tax_total is None:
            tax_total = None
        else:
            tax_total += value
            per_kind[kind] = per_kind.get(kind, _ZERO) + value

    items: list[Item] = []
    taxed = False
    for raw_item in doc.items:
        value = _money(problems, raw_item.amount, "amount", raw_item.line_no)
        tax = None
        if raw_item.tax is not None:
            taxed = True
            tax = _money(problems, raw_item.tax, "tax", raw_item.line_no)
            taxes_sum = None if tax is None or taxes_sum is None else taxes_sum + tax
        if value is None or items_sum is None:
            items_sum = None
        else:
            items_sum += value
            items.append(Item(raw_item.line_no, raw_item.description, value, tax))

    invoice_date = None
    raw_date = fields.get("date", "").strip()
    if raw_date:
        try:
            invoice_date = parse_date(raw_date)
        except ValueError as exc:
            problems.add(Reason.BAD_DATE, f"Dated: {exc}")

    if items and amount is not None and items_sum is not None and items_sum != amount:
        problems.add(Reason.ITEMS_SUM_MISMATCH, f"items sum to {items_sum} but Amount is {amount}")
    if taxed and taxes_sum is not None and tax_total is not None and taxes_sum != tax_total:
        problems.add(
            Reason.TAX_SUM_MISMATCH,
            f"item taxes sum to {taxes_sum} but the tax lines sum to {tax_total}",
        )
    if amount is not None and tax_total is not None and total is not None:
        expected = amount + tax_total
        if expected != total:
            problems.add(
                Reason.TOTAL_MISMATCH,
                f"Amount {amount} + taxes {tax_total} = {expected} but Total is {total}",
            )
    in_words = fields.get("in_words", "").strip() or None
    if in_words is not None and total is not None:
        said = words_to_int(in_words)
        if said is not None and said != int(total):
            problems.add(
                Reason.WORDS_MISMATCH,
                f"InWords says {said} but the whole part of Total is {int(total)}",
            )

    if problems:
        return _rejection(doc, problems.result())
    # No problem means that every value was read; these only tell the type checker.
    assert amount is not None and total is not None and tax_total is not None
    assert invoice_date is not None
    customer_id = fields["customer_id"].strip()
    return Invoice(
        customer_id=customer_id,
        invoice_id=fields["invoice_id"].strip(),
        invoice_date=invoice_date,
        seller=fields["seller"].strip(),
        buyer=fields["buyer"].strip(),
        currency=doc.currency,
        amount=amount,
        tax_total=tax_total,
        total=total,
        total_in_words=in_words,
        items=tuple(items),
        taxes=tuple(Tax(kind, value) for kind, value in per_kind.items()),
        issuer_key=customer_id,
        format=Format.TEXT_V1,
        net_total=amount,
        payable=total,
    )


def _rejection(doc: ParsedDocument, problems: tuple[Problem, ...]) -> Rejection:
    """The rejection, with the format and the ids that could be read (SPEC 2.1: a v1
    document's Customer-ID is its issuer_key)."""
    customer_id = doc.fields.get("customer_id", "").strip() or None
    invoice_id = doc.fields.get("invoice_id", "").strip() or None
    customer_id = customer_id if is_id(customer_id) else None
    return Rejection(
        problems,
        format=doc.format,
        issuer_key=customer_id if doc.format is Format.TEXT_V1 else None,
        customer_id=customer_id,
        invoice_id=invoice_id if is_id(invoice_id) else None,
    )


def _money(problems: ProblemLog, raw: str, what: str, of: str | int = "") -> Decimal | None:
    """The value of a money field, or None after adding to `problems` why it has none.

    `what` and `of` name the value ("Amount"; "tax line", "SGST"; "amount", item 3) and
    become a label only when there is something to report, which keeps the hot path lean.
    """
    try:
        value, _ = parse_money(raw)
    except ValueError as exc:
        problems.add(Reason.BAD_NUMBER, f"{_label(what, of)}: {exc}")
        return None
    if value < 0:
        problems.add(Reason.NEGATIVE_AMOUNT, f"{_label(what, of)} is negative: {value}")
    return value


def _label(what: str, of: str | int) -> str:
    if isinstance(of, int):
        return f"item {of} {what}"
    return f"{of} {what}" if of else what
