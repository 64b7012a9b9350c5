"""EN 16931's business rules of SPEC section 3: an e-invoice's terms become an Invoice or a
Rejection carrying every code that applies, each citing its BR id.

The rules run in phases: the required terms, the ids and codes, the numbers and dates
(read as written: `1.500` has three decimals, as the official BR-DEC rules count), then
the sums (`_CHECKS`, a table in the standard's order). A rule whose inputs are themselves
wrong (an amount that is no number) is skipped: its cause is already reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, localcontext

from docproc.dates import MIN_YEAR
from docproc.formats.document import EInvoiceDocument, RawDate
from docproc.ids import MAX_CODE_LENGTH, id_problem, is_id
from docproc.models import DocumentType, Invoice, Item, Problem, Reason, Rejection, Tax
from docproc.money import MAX_INTEGER_DIGITS, QUANTITY_DECIMALS, QUANTITY_INTEGER_DIGITS
from docproc.rules.problems import ProblemLog, never_raises

# UNTDID 1001 codes of credit notes (SPEC section 2.2).
CREDIT_NOTE_CODES = frozenset(
    "81 83 261 262 296 308 381 396 420 458 502 503 532".split()  # noqa: SIM905
)
# xs:decimal's lexical form: what both syntaxes write for amounts, quantities and rates.
_DECIMAL = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATE_102 = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_CENT = Decimal("0.01")
_ZERO = Decimal("0.00")
_ONE = Decimal("1.00")
_HUNDRED = Decimal(100)
# What the quantity, price and rate columns keep (SPEC section 4): more is rounded to it.
_QUANTUM = Decimal(1).scaleb(-QUANTITY_DECIMALS)
# Categories whose breakdown rows are told apart by rate too (BR-S-08, BR-IG-08, BR-IP-08).
_BY_RATE = frozenset({"S", "L", "M"})
_BASE_RULES = {
    "S": "BR-S-08",
    "Z": "BR-Z-08",
    "E": "BR-E-08",
    "AE": "BR-AE-08",
    "K": "BR-IC-08",
    "G": "BR-G-08",
    "O": "BR-O-08",
    "L": "BR-IG-08",
    "M": "BR-IP-08",
}
_CURRENCY = re.compile(r"[A-Z]{3}")  # BR-CL-04: an ISO 4217 alpha code
# Sums stay exact whatever decimal context the caller has set.
_CONTEXT = Context(prec=40)
# The document totals other than BT-106: (term, label, value when absent).
_TOTALS: tuple[tuple[str, str, Decimal | None], ...] = (
    ("allowance_total", "BT-107 sum of allowances", _ZERO),
    ("charge_total", "BT-108 sum of charges", _ZERO),
    ("net_total", "BT-109 total without VAT", None),
    ("tax_total", "BT-110 total VAT", _ZERO),
    ("total", "BT-112 total with VAT", None),
    ("prepaid", "BT-113 paid amount", _ZERO),
    ("rounding", "BT-114 rounding amount", _ZERO),
    ("payable", "BT-115 amount due", None),
)
# An allowance (False) or charge (True) at document level: its amount, category and rate.
_AllowanceCharge = tuple[bool, Decimal, str | None, Decimal | None]


@dataclass
class _Values:
    """The numbers read so far; a `*_known` flag is False when one of its rows was no number."""

    amount: Decimal | None = None
    allowance_total: Decimal | None = None
    charge_total: Decimal | None = None
    net_total: Decimal | None = None
    tax_total: Decimal | None = None
    total: Decimal | None = None
    prepaid: Decimal | None = None
    rounding: Decimal | None = None
    payable: Decimal | None = None
    items: list[Item] = field(default_factory=list)
    lines_known: bool = True
    taxes: list[Tax] = field(default_factory=list)
    taxes_known: bool = True
    allowances: list[_AllowanceCharge] = field(default_factory=list)
    charges_known: bool = True


def _unjudged(exc: Exception, doc: EInvoiceDocument) -> Invoice | Rejection:
    problem = Problem(Reason.MALFORMED_DOCUMENT, f"the document could not be judged ({exc!r})")
    return _rejection(doc, (problem,))


@never_raises(_unjudged)
def judge(doc: EInvoiceDocument) -> Invoice | Rejection:
    """Apply SPEC section 3 to an e-invoice; never raises (a bad document is a result)."""
    if doc.problems:
        return _rejection(doc, doc.problems)
    with localcontext(_CONTEXT):
        return _judge(doc)


def _rejection(doc: EInvoiceDocument, problems: tuple[Problem, ...]) -> Rejection:
    """The rejection, with the format and the ids that could be read, so that the report
    and the `documents` row say whose invoice it was. The ids are kept only where they
    pass the id rule; BT-46, free text, is kept as written (SPEC section 3, `bad_id`)."""
    issuer_key = _issuer_key(doc)
    return Rejection(
        problems,
        format=doc.format,
        issuer_key=issuer_key if is_id(issuer_key) else None,
        customer_id=doc.customer_id,
        invoice_id=doc.invoice_id if is_id(doc.invoice_id) else None,
    )


def _issuer_key(doc: EInvoiceDocument) -> str | None:
    """`DE 123 456 789` and `DE123456789` are one seller (SPEC 2.2)."""
    return "".join(doc.issuer_key.split()) if doc.issuer_key else None


def _judge(doc: EInvoiceDocument) -> Invoice | Rejection:
    log = ProblemLog()
    raw_amount = doc.amount
    if raw_amount is None and not doc.lines and doc.lineless_profile:
        raw_amount = doc.net_total  # SPEC 2.3: MINIMUM states no BT-106
    issuer_key = _issuer_key(doc)
    _required(log, doc, raw_amount, issuer_key)
    _ids_and_codes(log, doc, issuer_key)
    values = _numbers(log, doc, raw_amount)
    invoice_date = _date(log, doc.invoice_date, "BT-2 issue date")
    due_date = _date(log, doc.due_date, "BT-9 due date")
    for check in _CHECKS:
        check(log, doc, values)
    if log:
        return _rejection(doc, log.result())
    return _invoice(doc, values, issuer_key, invoice_date, due_date)


def _required(
    log: ProblemLog, doc: EInvoiceDocument, raw_amount: str | None, issuer_key: str | None
) -> None:
    """missing_field: BR-02, BR-03, BR-05, BR-06, BR-07, BR-CO-26, BR-12..BR-15, BR-24, BR-25."""
    required = (
        ("BT-1 invoice number", doc.invoice_id),
        ("BT-2 issue date", doc.invoice_date),
        ("BT-5 invoice currency", doc.currency),
        ("BT-27 seller name", doc.seller),
        ("BT-44 buyer name", doc.buyer),
        ("a seller identifier (BT-31, BT-30, BT-29 or BT-32) as the issuer key", issuer_key),
        ("BT-106 sum of line net amounts", raw_amount),
        ("BT-109 total without VAT", doc.net_total),
        ("BT-112 total with VAT", doc.total),
        ("BT-115 amount due", doc.payable),
    )
    for label, given in required:
        if given is None:
            log.add(Reason.MISSING_FIELD, f"{label} is missing or blank")
    for line in doc.lines:
        if line.amount is None:
            log.add(Reason.MISSING_FIELD, f"line {line.line_no}: BT-131 net amount is missing")
        if line.description is None:
            log.add(Reason.MISSING_FIELD, f"line {line.line_no}: BT-153 item name is missing")


def _ids_and_codes(log: ProblemLog, doc: EInvoiceDocument, issuer_key: str | None) -> None:
    """bad_id on the two halves of the invoices table's key; and codes that make no sense
    of the document: a currency that is no ISO 4217 code [BR-CL-04], or a "code" longer
    than any of EN 16931's code lists holds."""
    for label, an_id in (("invoice number (BT-1)", doc.invoice_id), ("issuer key", issuer_key)):
        if an_id is not None and (problem := id_problem(an_id)):
            log.add(Reason.BAD_ID, f"{label} {an_id[:70]!r} {problem}")
    if doc.currency is not None and _CURRENCY.fullmatch(doc.currency) is None:
        log.add(
            Reason.MALFORMED_DOCUMENT,
            f"[BR-CL-04] BT-5 invoice currency {doc.currency[:20]!r} is not an ISO 4217 code",
        )
    for label, code in _codes(doc):
        if code is not None and len(code) > MAX_CODE_LENGTH:
            log.add(
                Reason.MALFORMED_DOCUMENT,
                f"{label} {code[:20]!r}... is longer than {MAX_CODE_LENGTH} characters: no code",
            )


def _numbers(log: ProblemLog, doc: EInvoiceDocument, raw_amount: str | None) -> _Values:
    """bad_number: BR-DEC-09..BR-DEC-19 (two decimals at most, as written) on the totals and
    BR-DEC-23 on line amounts; quantities, prices and rates need only be numbers."""
    values = _Values(amount=_money(log, raw_amount, "BT-106 sum of line net amounts"))
    for term, label, absent in _TOTALS:
        setattr(values, term, _money(log, getattr(doc, term), label, absent))
    for line in doc.lines:
        where = f"line {line.line_no}"
        line_amount = _money(log, line.amount, f"{where}: BT-131 net amount")
        quantity = _number(log, line.quantity, f"{where}: BT-129 quantity")
        unit_price = _number(log, line.unit_price, f"{where}: BT-146 net price")
        rate = _number(log, line.tax_rate, f"{where}: BT-152 VAT rate")
        if line_amount is None or line.description is None:
            values.lines_known = False
            continue
        values.items.append(
            Item(
                line_no=line.line_no,
                description=line.description,
                amount=line_amount,
                tax=None,
                line_id=line.line_id,
                quantity=quantity,
                unit_code=line.unit_code,
                unit_price=unit_price,
                tax_category=line.tax_category,
                tax_rate=rate,
            )
        )
    for n, row in enumerate(doc.taxes, start=1):
        where = f"VAT breakdown row {n}"
        row_amount = _number(log, row.amount, f"{where}: BT-117 tax amount", money=True)
        taxable = _number(log, row.taxable_amount, f"{where}: BT-116 taxable amount", money=True)
        rate = _number(log, row.rate, f"{where}: BT-119 rate")
        if row.amount is None:
            log.add(Reason.MISSING_FIELD, f"{where}: BT-117 tax amount is missing")
        if (
            row_amount is None
            or (row.taxable_amount is not None and taxable is None)
            or (row.rate is not None and rate is None)
        ):
            values.taxes_known = False
            continue
        values.taxes.append(Tax(row.kind, row_amount, row.category, rate, taxable))
    for n, ac in enumerate(doc.allowances_charges, start=1):
        where = f"document-level {'charge' if ac.charge else 'allowance'} {n}"
        value = _number(log, ac.amount, f"{where}: amount", money=True)
        rate = _number(log, ac.rate, f"{where}: VAT rate")
        if ac.amount is None:
            log.add(Reason.MISSING_FIELD, f"{where}: its amount (BR-31, BR-36) is missing")
        if value is None or (ac.rate is not None and rate is None):
            values.charges_known = False
            continue
        values.allowances.append((ac.charge, value, ac.category, rate))
    return values


def _invoice(
    doc: EInvoiceDocument,
    values: _Values,
    issuer_key: str | None,
    invoice_date: date | None,
    due_date: date | None,
) -> Invoice:
    """The invoice of a document that broke no rule, so that every value was read."""
    v = values
    assert doc.invoice_id and doc.seller and doc.buyer and issuer_key and doc.currency
    assert invoice_date is not None and v.amount is not None and v.total is not None
    assert v.allowance_total is not None and v.charge_total is not None
    assert v.tax_total is not None and v.prepaid is not None and v.rounding is not None
    assert v.payable is not None
    credit = doc.credit_note_root or (doc.type_code or "") in CREDIT_NOTE_CODES
    return Invoice(
        customer_id=doc.customer_id,
        invoice_id=doc.invoice_id,
        invoice_date=invoice_date,
        seller=doc.seller,
        buyer=doc.buyer,
        currency=doc.currency,
        amount=v.amount,
        tax_total=v.tax_total,
        total=v.total,
        total_in_words=None,
        items=tuple(v.items),
        taxes=tuple(v.taxes),
        issuer_key=issuer_key,
        format=doc.format,
        document_type=DocumentType.CREDIT_NOTE if credit else DocumentType.INVOICE,
        type_code=doc.type_code,
        profile=doc.profile,
        due_date=due_date,
        seller_tax_id=doc.seller_tax_id,
        buyer_tax_id=doc.buyer_tax_id,
        allowance_total=v.allowance_total,
        charge_total=v.charge_total,
        net_total=v.net_total,
        prepaid=v.prepaid,
        rounding=v.rounding,
        payable=v.payable,
    )


@dataclass(frozen=True)
class _SumRule:
    """One of EN 16931's sum rules: `computed` and `stated` must be equal. Either side is
    None when an input is unknown (missing, or no number): the rule is then skipped."""

    rule: str
    reason: Reason
    computed: Callable[[EInvoiceDocument, _Values], Decimal | None]
    stated: Callable[[_Values], Decimal | None]
    message: str  # formatted with `computed`, `stated` and the values as `v`

    def __call__(self, log: ProblemLog, doc: EInvoiceDocument, v: _Values) -> None:
        stated = self.stated(v)
        if stated is None:
            return
        computed = self.computed(doc, v)
        if computed is not None and computed != stated:
            detail = self.message.format(computed=computed, stated=stated, v=v)
            log.add(self.reason, f"[{self.rule}] {detail}")


def _lines_sum(doc: EInvoiceDocument, v: _Values) -> Decimal | None:
    if not doc.lines or not v.lines_known:
        return None
    return sum((item.amount for item in v.items), _ZERO)


def _allowances_sum(charge: bool) -> Callable[[EInvoiceDocument, _Values], Decimal | None]:
    def summed(doc: EInvoiceDocument, v: _Values) -> Decimal | None:
        if not v.charges_known:
            return None
        return sum((value for c, value, _, _ in v.allowances if c is charge), _ZERO)

    return summed


def _net_total(doc: EInvoiceDocument, v: _Values) -> Decimal | None:
    if v.amount is None or v.allowance_total is None or v.charge_total is None:
        return None
    return v.amount - v.allowance_total + v.charge_total


def _breakdown_sum(doc: EInvoiceDocument, v: _Values) -> Decimal | None:
    if not doc.taxes or not v.taxes_known:
        return None
    return sum((t.amount for t in v.taxes), Decimal(0))


def _total(doc: EInvoiceDocument, v: _Values) -> Decimal | None:
    return None if v.net_total is None or v.tax_total is None else v.net_total + v.tax_total


def _payable(doc: EInvoiceDocument, v: _Values) -> Decimal | None:
    if v.total is None or v.prepaid is None or v.rounding is None:
        return None
    return v.total - v.prepaid + v.rounding


def _breakdown(log: ProblemLog, doc: EInvoiceDocument, v: _Values) -> None:
    """The VAT breakdown's rows against the lines [BR-S-08 and kin] and their rates [BR-CO-17]."""
    if not v.taxes_known:
        return
    if doc.lines and v.lines_known and v.charges_known:
        _breakdown_bases(log, v.taxes, v.items, v.allowances)
    _breakdown_amounts(log, v.taxes)


# The sum rules in the standard's order; a rejection lists their findings in this order.
_CHECKS: tuple[Callable[[ProblemLog, EInvoiceDocument, _Values], None], ...] = (
    _SumRule(
        "BR-CO-10",
        Reason.ITEMS_SUM_MISMATCH,
        _lines_sum,
        lambda v: v.amount,
        "the lines sum to {computed} but BT-106 is {stated}",
    ),
    _SumRule(
        "BR-CO-11",
        Reason.ALLOWANCE_CHARGE_MISMATCH,
        _allowances_sum(charge=False),
        lambda v: v.allowance_total,
        "allowances sum to {computed} but BT-107 is {stated}",
    ),
    _SumRule(
        "BR-CO-12",
        Reason.ALLOWANCE_CHARGE_MISMATCH,
        _allowances_sum(charge=True),
        lambda v: v.charge_total,
        "charges sum to {computed} but BT-108 is {stated}",
    ),
    _SumRule(
        "BR-CO-13",
        Reason.ALLOWANCE_CHARGE_MISMATCH,
        _net_total,
        lambda v: v.net_total,
        "BT-106 {v.amount} - BT-107 {v.allowance_total} + BT-108 {v.charge_total} = "
        "{computed} but BT-109 is {stated}",
    ),
    _SumRule(
        "BR-CO-14",
        Reason.TAX_SUM_MISMATCH,
        _breakdown_sum,
        lambda v: v.tax_total,
        "the VAT breakdown sums to {computed} but BT-110 is {stated}",
    ),
    _breakdown,
    _SumRule(
        "BR-CO-15",
        Reason.TOTAL_MISMATCH,
        _total,
        lambda v: v.total,
        "BT-109 {v.net_total} + BT-110 {v.tax_total} = {computed} but BT-112 is {stated}",
    ),
    _SumRule(
        "BR-CO-16",
        Reason.PAYABLE_MISMATCH,
        _payable,
        lambda v: v.payable,
        "BT-112 {v.total} - BT-113 {v.prepaid} + BT-114 {v.rounding} = {computed} "
        "but BT-115 is {stated}",
    ),
)


def _breakdown_bases(
    log: ProblemLog,
    taxes: list[Tax],
    items: list[Item],
    allowances: list[_AllowanceCharge],
) -> None:
    """[BR-S-08] and its kin (BR-Z-08, BR-E-08, BR-AE-08, BR-IC-08, BR-G-08, BR-O-08,
    BR-IG-08, BR-IP-08): a row's taxable amount is within 1.00 of its lines' net amounts
    plus its charges minus its allowances; S, L and M rows are matched by rate too."""
    for n, tax in enumerate(taxes, start=1):
        if tax.taxable_amount is None or tax.category is None:
            continue
        key = _group(tax.category, tax.rate)
        base = sum((i.amount for i in items if _group(i.tax_category, i.tax_rate) == key), _ZERO)
        for charge, value, category, rate in allowances:
            if _group(category, rate) == key:
                base += value if charge else -value
        if abs(tax.taxable_amount - base) >= _ONE:
            rule = _BASE_RULES.get(key[0], "BR-S-08 family")
            log.add(
                Reason.TAX_BREAKDOWN_MISMATCH,
                f"[{rule}] VAT breakdown row {n} ({_describe(key)}) has taxable amount "
                f"{tax.taxable_amount}, but its lines, allowances and charges come to {base}",
            )


def _breakdown_amounts(log: ProblemLog, taxes: list[Tax]) -> None:
    """[BR-CO-17] a row's tax amount is within 1.00 of taxable amount × rate / 100,
    rounded to two decimals, both taken as absolute values (a missing rate is 0)."""
    for n, tax in enumerate(taxes, start=1):
        if tax.taxable_amount is None:
            continue
        rate = tax.rate if tax.rate is not None else Decimal(0)
        expected = (abs(tax.taxable_amount) * rate / _HUNDRED).quantize(
            _CENT, rounding=ROUND_HALF_UP
        )
        if abs(abs(tax.amount) - expected) >= _ONE:
            log.add(
                Reason.TAX_BREAKDOWN_MISMATCH,
                f"[BR-CO-17] VAT breakdown row {n}: {tax.taxable_amount} × {rate}% is "
                f"{expected}, but its tax amount is {tax.amount}",
            )


def _group(category: str | None, rate: Decimal | None) -> tuple[str, Decimal | None]:
    """The key that ties lines, allowances and charges to a breakdown row."""
    code = (category or "").strip().upper()
    if code in _BY_RATE:
        return code, rate if rate is not None else Decimal(0)
    return code, None


def _describe(key: tuple[str, Decimal | None]) -> str:
    category, rate = key
    return f"category {category}" if rate is None else f"category {category} at {rate}%"


def _codes(doc: EInvoiceDocument) -> list[tuple[str, str | None]]:
    """Every code the tables keep, with its business term."""
    codes: list[tuple[str, str | None]] = [("BT-3 type code", doc.type_code)]
    for line in doc.lines:
        codes += [
            (f"line {line.line_no}: BT-130 unit code", line.unit_code),
            (f"line {line.line_no}: BT-151 VAT category", line.tax_category),
        ]
    for n, row in enumerate(doc.taxes, start=1):
        codes += [
            (f"VAT breakdown row {n}: BT-118 VAT category", row.category),
            (f"VAT breakdown row {n}: tax scheme", row.kind),
        ]
    return codes


def _decimal(raw: str) -> tuple[Decimal, int] | None:
    """An xs:decimal and the number of decimals written, or None when it is not one."""
    m = _DECIMAL.fullmatch(raw)
    if m is None or not (m[2] or m[3]):
        return None
    # The pattern admits nothing Decimal reads differently ("1_0", "1e3", "NaN" fail it).
    return Decimal(raw), len(m[3] or "")


def _money(
    log: ProblemLog, raw: str | None, label: str, absent: Decimal | None = None
) -> Decimal | None:
    """A BT-106..BT-115 or BT-131 value: a decimal with two decimals at most, as written."""
    if raw is None:
        return absent
    parsed = _decimal(raw)
    if parsed is None:
        log.add(Reason.BAD_NUMBER, f"{label} {raw[:40]!r} is not a number")
        return None
    value, decimals = parsed
    if decimals > 2:
        log.add(Reason.BAD_NUMBER, f"{label} {raw[:40]!r} has more than 2 decimals")
        return None
    return _fits(log, value, decimals, raw, label)


def _number(log: ProblemLog, raw: str | None, label: str, *, money: bool = False) -> Decimal | None:
    """Any other number the rules or the tables need: a money value (BT-116, BT-117, an
    allowance) must fit the DECIMAL(15,2) columns' integer digits; a quantity, price or
    rate keeps its decimals up to 10 and is rounded half-even beyond (SPEC section 4:
    EN 16931 limits the decimals of amounts only, and `30.00000000000` is 30)."""
    if raw is None:
        return None
    parsed = _decimal(raw)
    if parsed is None:
        log.add(Reason.BAD_NUMBER, f"{label} {raw[:40]!r} is not a number")
        return None
    if money:
        return _fits(log, *parsed, raw, label)
    value, decimals = parsed
    # Integer digits are checked before rounding too: a quantize beyond the context's
    # precision would raise.
    if value.adjusted() < QUANTITY_INTEGER_DIGITS and decimals > QUANTITY_DECIMALS:
        value = value.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)
    if value.adjusted() >= QUANTITY_INTEGER_DIGITS:
        log.add(
            Reason.BAD_NUMBER,
            f"{label} {raw[:40]!r} has more than {QUANTITY_INTEGER_DIGITS} integer digits",
        )
        return None
    return value


def _fits(log: ProblemLog, value: Decimal, decimals: int, raw: str, label: str) -> Decimal | None:
    """`value` if the money columns hold it: zero unsigned, two decimals at least (so that
    sums and the CSV print cents), more kept as written."""
    if value.adjusted() >= MAX_INTEGER_DIGITS:
        log.add(
            Reason.BAD_NUMBER,
            f"{label} {raw[:40]!r} has more than {MAX_INTEGER_DIGITS} integer digits",
        )
        return None
    if not value:
        return _ZERO if decimals <= 2 else abs(value)
    return value.quantize(_CENT) if decimals < 2 else value


def _date(log: ProblemLog, raw: RawDate | None, label: str) -> date | None:
    """A date in its syntax's notation: ISO 8601 (UBL) or format 102, YYYYMMDD (CII)."""
    if raw is None:
        return None
    if raw.form == "iso":
        m = _ISO_DATE.fullmatch(raw.text)
        form = "YYYY-MM-DD"
    elif raw.form == "102":
        m = _DATE_102.fullmatch(raw.text)
        form = "YYYYMMDD (format 102)"
    else:
        log.add(Reason.BAD_DATE, f"{label} {raw.text[:40]!r} is in format {raw.form!r}, not 102")
        return None
    if m is None:
        log.add(Reason.BAD_DATE, f"{label} {raw.text[:40]!r} is not written {form}")
        return None
    try:
        value = date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        log.add(Reason.BAD_DATE, f"{label} {raw.text[:40]!r} is not a real calendar date")
        return None
    if value.year < MIN_YEAR:
        log.add(Reason.BAD_DATE, f"{label} {raw.text[:40]!r} is before the year {MIN_YEAR}")
        return None
    return value
