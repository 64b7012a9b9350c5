"""The rules of SPEC section 3 for a plain PDF read by a template (SPEC 2.6): the fields an
invoice2data template gave become an Invoice, or a Rejection with every code that
applies.

A template reads only what its regexes find, so these PDFs get the rules that their
values allow: `missing_field` (naming the template), `bad_id`, `bad_number`, `bad_date`,
`items_sum_mismatch` when lines with amounts were read and `amount_untaxed` was too,
`total_mismatch` when `amount`, `amount_untaxed` and `amount_tax` were all read.
The values come as invoice2data types them (floats, datetimes, text): a float is read
through its shortest representation (`262.9`), never its binary value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from typing import Any

from docproc.dates import MIN_YEAR, parse_date
from docproc.formats.document import ExtractedDocument
from docproc.ids import id_problem, is_id
from docproc.models import Invoice, Item, Problem, Reason, Rejection
from docproc.money import MAX_INTEGER_DIGITS, QUANTITY_DECIMALS, QUANTITY_INTEGER_DIGITS
from docproc.rules.problems import ProblemLog, never_raises

# The fields SPEC 2.6 requires of a template, as invoice2data names them.
REQUIRED = ("invoice_number", "date", "amount", "issuer")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.([0-9]*))?|\.([0-9]+))")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ].*)?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP", "₹": "INR", "¥": "JPY", "CHF": "CHF"}
_CENT = Decimal("0.01")
_ZERO = Decimal("0.00")
_QUANTUM = Decimal(1).scaleb(-QUANTITY_DECIMALS)
_CONTEXT = Context(prec=40)


def _unjudged(exc: Exception, doc: ExtractedDocument) -> Invoice | Rejection:
    problem = Problem(Reason.MALFORMED_DOCUMENT, f"the document could not be judged ({exc!r})")
    return _rejection(doc, (problem,), None)


@never_raises(_unjudged)
def judge(doc: ExtractedDocument) -> Invoice | Rejection:
    """Apply SPEC section 3's rules for template-read PDFs; never raises."""
    if doc.problems:
        return _rejection(doc, doc.problems, None)
    with localcontext(_CONTEXT):
        return _judge(doc)


def issuer_key(doc: ExtractedDocument) -> str | None:
    """The seller's VAT id with all whitespace removed, else the template's name."""
    vat = _text(doc.fields.get("vat"))
    if vat:
        return "".join(vat.split())
    return doc.template


def _rejection(doc: ExtractedDocument, problems: tuple[Problem, ...], key: str | None) -> Rejection:
    """With the ids that pass the id rule, so the report says whose invoice it was."""
    key = key if key is not None else (issuer_key(doc) if doc.template else None)
    invoice_id = _text(doc.fields.get("invoice_number"))
    return Rejection(
        problems,
        format=doc.format,
        issuer_key=key if is_id(key) else None,
        invoice_id=invoice_id if is_id(invoice_id) else None,
    )


@dataclass
class _Totals:
    """The three amounts as read (None: absent or no number) and whether each was given."""

    total: Decimal | None
    untaxed: Decimal | None
    tax: Decimal | None
    untaxed_given: bool
    tax_given: bool


def _judge(doc: ExtractedDocument) -> Invoice | Rejection:
    fields = doc.fields
    log = ProblemLog()
    where = f"template {doc.template}"
    for name in REQUIRED:
        if _blank(fields.get(name)):
            log.add(Reason.MISSING_FIELD, f"{where} matches but gives no `{name}`")
    invoice_id = _text(fields.get("invoice_number"))
    key = issuer_key(doc)
    for label, an_id in (("invoice number", invoice_id), ("issuer key", key)):
        if an_id and (problem := id_problem(an_id)):
            log.add(Reason.BAD_ID, f"{label} {an_id[:70]!r} ({where}) {problem}")
    invoice_date = _date(log, fields.get("date"), "date", where)
    due_date = _date(log, fields.get("date_due"), "date_due", where)
    currency = _currency(log, fields.get("currency"), where)
    totals = _Totals(
        total=_money(log, fields.get("amount"), "amount", where),
        untaxed=_money(log, fields.get("amount_untaxed"), "amount_untaxed", where),
        tax=_money(log, fields.get("amount_tax"), "amount_tax", where),
        untaxed_given=not _blank(fields.get("amount_untaxed")),
        tax_given=not _blank(fields.get("amount_tax")),
    )
    items, items_complete = _items(log, fields.get("lines"), where)
    _sums(log, totals, items if items_complete else None, where)
    if log:
        return _rejection(doc, log.result(), key)
    assert invoice_id and key and invoice_date is not None and totals.total is not None
    total = totals.total
    tax = totals.tax if totals.tax is not None else _derived_tax(totals)
    untaxed = totals.untaxed if totals.untaxed is not None else total - tax
    return Invoice(
        customer_id=None,
        invoice_id=invoice_id,
        invoice_date=invoice_date,
        seller=_text(fields.get("issuer")) or "",
        buyer=_text(fields.get("partner_name")) or "",
        currency=currency,
        amount=untaxed,
        tax_total=tax,
        total=total,
        total_in_words=None,
        items=tuple(items),
        issuer_key=key,
        format=doc.format,
        profile=doc.profile,
        due_date=due_date,
        seller_tax_id=_text(fields.get("vat")),
        net_total=untaxed,
        payable=total,
    )


def _derived_tax(totals: _Totals) -> Decimal:
    """SPEC 2.6: `total` - `amount_untaxed` when that is given, else 0.00."""
    assert totals.total is not None
    if totals.untaxed is not None:
        return totals.total - totals.untaxed
    return _ZERO


def _sums(log: ProblemLog, t: _Totals, items: list[Item] | None, where: str) -> None:
    """The sums a template's values allow: lines against `amount_untaxed`, and
    `amount_untaxed` + `amount_tax` against `amount` (each only when all were read)."""
    if items and t.untaxed_given and t.untaxed is not None:
        summed = sum((item.amount for item in items), _ZERO)
        if summed != t.untaxed:
            log.add(
                Reason.ITEMS_SUM_MISMATCH,
                f"the {len(items)} lines {where} read sum to {summed}, "
                f"not amount_untaxed {t.untaxed}",
            )
    total, untaxed, tax = t.total, t.untaxed, t.tax
    if total is not None and untaxed is not None and tax is not None and untaxed + tax != total:
        log.add(
            Reason.TOTAL_MISMATCH,
            f"amount_untaxed {untaxed} + amount_tax {tax} = {untaxed + tax}, "
            f"not amount {total} ({where})",
        )


def _items(log: ProblemLog, lines: Any, where: str) -> tuple[list[Item], bool]:
    """Each line that bills something: `desc` or `name`; `amount`, else `price_subtotal`,
    else the unit price (`price`, `price_unit`) times `qty` (1 when not read). A line with
    none of these (a section header, a note) is no item. The flag is False when some
    line's numbers could not be read (its sum would mean nothing)."""
    if not isinstance(lines, list):
        return [], True
    items: list[Item] = []
    complete = True
    for n, line in enumerate(lines, start=1):
        if not isinstance(line, Mapping):
            continue
        label = f"line {n}"
        raw_amount = _first(line, "amount", "price_subtotal")
        raw_price = _first(line, "price", "price_unit", "unit_price")
        if _blank(raw_amount) and _blank(raw_price):
            continue
        quantity = _quantity(log, line.get("qty"), f"{label} qty", where)
        price = _quantity(log, raw_price, f"{label} price", where)
        if not _blank(raw_amount):
            amount = _money(log, raw_amount, f"{label} amount", where)
        elif price is not None and (quantity is not None or _blank(line.get("qty"))):
            amount = (price * (quantity if quantity is not None else 1)).quantize(
                _CENT, rounding=ROUND_HALF_UP
            )
        else:
            amount = None
        if amount is None:
            complete = False
            continue
        description = _text(_first(line, "desc", "name", "description")) or ""
        items.append(
            Item(
                line_no=len(items) + 1,
                description=description,
                amount=amount,
                tax=None,
                quantity=quantity,
                unit_price=price,
            )
        )
    return items, complete


def _first(line: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if not _blank(line.get(name)):
            return line[name]
    return None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str | None:
    """A field as text, stripped: a number as it would be written, None when blank."""
    if _blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _decimal(value: Any) -> tuple[Decimal, int] | None:
    """A number and its decimals as written: a float by its shortest repr, text as a plain
    decimal; None for anything else (bool, NaN, `1,5`)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value), 0
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        try:
            number = Decimal(repr(value))
        except InvalidOperation:
            return None
        exponent = number.as_tuple().exponent
        assert isinstance(exponent, int)  # finite
        return number, max(-exponent, 0)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        m = _DECIMAL.fullmatch(text)
        if m is None:
            return None
        return Decimal(text), len(m[1] or m[2] or "")
    return None


def _money(log: ProblemLog, value: Any, name: str, where: str) -> Decimal | None:
    """A money value: two decimals at most, as many integer digits as the columns hold."""
    if _blank(value):
        return None
    parsed = _decimal(value)
    shown = str(value)[:40]
    if parsed is None:
        log.add(Reason.BAD_NUMBER, f"{name} {shown!r} ({where}) is not a number")
        return None
    number, decimals = parsed
    if decimals > 2:
        log.add(Reason.BAD_NUMBER, f"{name} {shown!r} ({where}) has more than 2 decimals")
        return None
    if number and number.adjusted() >= MAX_INTEGER_DIGITS:
        log.add(
            Reason.BAD_NUMBER,
            f"{name} {shown!r} ({where}) has more than {MAX_INTEGER_DIGITS} integer digits",
        )
        return None
    return abs(number.quantize(_CENT)) if not number else number.quantize(_CENT)


def _quantity(log: ProblemLog, value: Any, name: str, where: str) -> Decimal | None:
    """A quantity or unit price: decimals kept up to 10 (rounded half-even beyond)."""
    if _blank(value):
        return None
    parsed = _decimal(value)
    if parsed is None or (parsed[0] and parsed[0].adjusted() >= QUANTITY_INTEGER_DIGITS):
        log.add(Reason.BAD_NUMBER, f"{name} {str(value)[:40]!r} ({where}) is not a number")
        return None
    number, decimals = parsed
    return number.quantize(_QUANTUM) if decimals > QUANTITY_DECIMALS else number


def _date(log: ProblemLog, value: Any, name: str, where: str) -> date | None:
    """A date as the template typed it (a datetime), or text in an ISO or SPEC 2.1 form."""
    if _blank(value):
        return None
    if isinstance(value, datetime):
        result: date = value.date()
    elif isinstance(value, date):
        result = value
    elif isinstance(value, str):
        text = value.strip()
        m = _ISO_DATE.fullmatch(text)
        try:
            result = date(int(m[1]), int(m[2]), int(m[3])) if m else parse_date(text)
        except ValueError:
            log.add(Reason.BAD_DATE, f"{name} {text[:40]!r} ({where}) is not a date")
            return None
    else:
        log.add(Reason.BAD_DATE, f"{name} {str(value)[:40]!r} ({where}) is not a date")
        return None
    if result.year < MIN_YEAR:
        log.add(Reason.BAD_DATE, f"{name} {result} ({where}) is before the year {MIN_YEAR}")
        return None
    return result


def _currency(log: ProblemLog, value: Any, where: str) -> str | None:
    """An ISO 4217 code (a template's `€` or `$` is read as its code); None when absent."""
    text = _text(value)
    if text is None:
        return None
    code = _SYMBOLS.get(text, text.upper())
    if _CURRENCY.fullmatch(code) is None:
        log.add(
            Reason.MALFORMED_DOCUMENT,
            f"currency {text[:20]!r} ({where}) is not an ISO 4217 code",
        )
        return None
    return code
