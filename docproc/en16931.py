"""EN 16931: an e-invoice's business terms as written, and the rules of SPEC section 3.

The UBL and CII readers (docproc.formats) map their syntax onto `EInvoiceDocument`, whose
values are the text the document holds (so that `1.500` can be told from `1.50`, as the
official BR-DEC rules count decimals as written). `judge` then applies the rules, each
citing its BR id, and returns an `Invoice` or a `Rejection` carrying every code that
applies. A rule whose inputs are themselves wrong (an amount that is no number) is
skipped: its cause is already reported.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

from docproc.dates import MIN_YEAR
from docproc.ids import MAX_CODE_LENGTH, id_problem, is_id
from docproc.models import (
    DocumentType,
    Format,
    Invoice,
    Item,
    Problem,
    Reason,
    Rejection,
    Tax,
)
from docproc.money import MAX_INTEGER_DIGITS, QUANTITY_DECIMALS, QUANTITY_INTEGER_DIGITS

# UNTDID 1001 codes of credit notes (SPEC section 2.2).
CREDIT_NOTE_CODES = frozenset(
    "81 83 261 262 296 308 381 396 420 458 502 503 532".split()  # noqa: SIM905
)
# Factur-X / ZUGFeRD 2.x profiles that carry no lines (BT-106 may then be absent).
_LINELESS_PROFILE = re.compile(r"(?i).*[:#](minimum|basicwl)$")
# xs:decimal's lexical form: what both syntaxes write for amounts, quantities and rates.
_DECIMAL = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATE_102 = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_CENT = Decimal("0.01")
_ZERO = Decimal("0.00")
_ONE = Decimal("1.00")
_HUNDRED = Decimal(100)
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


class _Log:
    """The problems found so far, in the order found."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, reason: Reason, detail: str) -> None:
        self.problems.append(Problem(reason, detail))


def judge(doc: EInvoiceDocument) -> Invoice | Rejection:
    """Apply SPEC section 3 to an e-invoice; never raises (a bad document is a result)."""
    if doc.problems:
        return _rejection(doc, doc.problems)
    try:
        with localcontext(_CONTEXT):
            return _judge(doc)
    except Exception as exc:  # a bug must not stop the pipeline: reject the document instead
        # ... but it is a bug: say so where people and tests look.
        logging.getLogger(__name__).exception("judge() caught %r; the document is rejected", exc)
        problem = Problem(Reason.MALFORMED_DOCUMENT, f"the document could not be judged ({exc!r})")
        return _rejection(doc, (problem,))


def _rejection(doc: EInvoiceDocument, problems: tuple[Problem, ...]) -> Rejection:
    """The rejection, with the format and the ids that could be read, so that the report
    and the `documents` row say whose invoice it was. The ids are kept only where they
    pass the id rule; BT-46, free text, is kept as written (SPEC section 3, `bad_id`)."""
    issuer_key = "".join(doc.issuer_key.split()) if doc.issuer_key else None
    return Rejection(
        problems,
        format=doc.format,
        issuer_key=issuer_key if is_id(issuer_key) else None,
        customer_id=doc.customer_id,
        invoice_id=doc.invoice_id if is_id(doc.invoice_id) else None,
    )


def _judge(doc: EInvoiceDocument) -> Invoice | Rejection:
    log = _Log()
    lineless = not doc.lines and doc.lineless_profile
    raw_amount = doc.amount
    if raw_amount is None and lineless:
        raw_amount = doc.net_total  # SPEC 2.3: MINIMUM states no BT-106
    issuer_key = "".join(doc.issuer_key.split()) if doc.issuer_key else None

    # missing_field: BR-02, BR-03, BR-05, BR-06, BR-07, BR-CO-26, BR-12..BR-15, BR-24, BR-25.
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

    # bad_id: the two halves of the invoices table's key.
    for label, an_id in (("invoice number (BT-1)", doc.invoice_id), ("issuer key", issuer_key)):
        if an_id is not None and (problem := id_problem(an_id)):
            log.add(Reason.BAD_ID, f"{label} {an_id[:70]!r} {problem}")

    # Codes of EN 16931's code lists are short: a currency that is no ISO 4217 code
    # [BR-CL-04] or a "code" longer than any list holds makes no sense of the document.
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

    # bad_number: BR-DEC-09..BR-DEC-19 (two decimals at most, as written) on the totals
    # and BR-DEC-23 on line amounts; the other numbers need only be numbers.
    amount = _money(log, raw_amount, "BT-106 sum of line net amounts")
    allowance_total = _money(log, doc.allowance_total, "BT-107 sum of allowances", _ZERO)
    charge_total = _money(log, doc.charge_total, "BT-108 sum of charges", _ZERO)
    net_total = _money(log, doc.net_total, "BT-109 total without VAT")
    tax_total = _money(log, doc.tax_total, "BT-110 total VAT", _ZERO)
    total = _money(log, doc.total, "BT-112 total with VAT")
    prepaid = _money(log, doc.prepaid, "BT-113 paid amount", _ZERO)
    rounding = _money(log, doc.rounding, "BT-114 rounding amount", _ZERO)
    payable = _money(log, doc.payable, "BT-115 amount due")

    items: list[Item] = []
    lines_known = True
    for line in doc.lines:
        where = f"line {line.line_no}"
        line_amount = _money(log, line.amount, f"{where}: BT-131 net amount")
        quantity = _number(log, line.quantity, f"{where}: BT-129 quantity")
        unit_price = _number(log, line.unit_price, f"{where}: BT-146 net price")
        rate = _number(log, line.tax_rate, f"{where}: BT-152 VAT rate")
        if line_amount is None or line.description is None:
            lines_known = False
            continue
        items.append(
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

    taxes: list[Tax] = []
    taxes_known = True
    for n, row in enumerate(doc.taxes, start=1):
        where = f"VAT breakdown row {n}"
        row_amount = _number(log, row.amount, f"{where}: BT-117 tax amount", money=True)
        taxable = _number(log, row.taxable_amount, f"{where}: BT-116 taxable amount", money=True)
        rate = _number(log, row.rate, f"{where}: BT-119 rate")
        if row.amount is None:
            log.add(Reason.MISSING_FIELD, f"{where}: BT-117 tax amount is missing")
        if row_amount is None or (row.taxable_amount is not None and taxable is None):
            taxes_known = False
            continue
        if row.rate is not None and rate is None:
            taxes_known = False
            continue
        taxes.append(Tax(row.kind, row_amount, row.category, rate, taxable))

    allowances: list[tuple[bool, Decimal, str | None, Decimal | None]] = []
    charges_known = True
    for n, ac in enumerate(doc.allowances_charges, start=1):
        what = "charge" if ac.charge else "allowance"
        where = f"document-level {what} {n}"
        value = _number(log, ac.amount, f"{where}: amount", money=True)
        rate = _number(log, ac.rate, f"{where}: VAT rate")
        if ac.amount is None:
            log.add(Reason.MISSING_FIELD, f"{where}: its amount (BR-31, BR-36) is missing")
        if value is None or (ac.rate is not None and rate is None):
            charges_known = False
            continue
        allowances.append((ac.charge, value, ac.category, rate))

    invoice_date = _date(log, doc.invoice_date, "BT-2 issue date")
    due_date = _date(log, doc.due_date, "BT-9 due date")

    # [BR-CO-10] Sum of Invoice line net amount = Σ Invoice line net amount.
    if doc.lines and lines_known and amount is not None:
        lines_sum = sum((item.amount for item in items), _ZERO)
        if lines_sum != amount:
            log.add(
                Reason.ITEMS_SUM_MISMATCH,
                f"[BR-CO-10] the lines sum to {lines_sum} but BT-106 is {amount}",
            )
    # [BR-CO-11], [BR-CO-12] the document-level allowances and charges match their totals.
    if charges_known:
        for charge, stated, label in (
            (False, allowance_total, "[BR-CO-11] allowances sum to {} but BT-107 is {}"),
            (True, charge_total, "[BR-CO-12] charges sum to {} but BT-108 is {}"),
        ):
            summed = sum((v for c, v, _, _ in allowances if c is charge), _ZERO)
            if stated is not None and summed != stated:
                log.add(Reason.ALLOWANCE_CHARGE_MISMATCH, label.format(summed, stated))
    # [BR-CO-13] total without VAT = Σ line net amounts - allowances + charges.
    if None not in (amount, allowance_total, charge_total, net_total):
        assert amount is not None and allowance_total is not None and charge_total is not None
        expected = amount - allowance_total + charge_total
        if expected != net_total:
            log.add(
                Reason.ALLOWANCE_CHARGE_MISMATCH,
                f"[BR-CO-13] BT-106 {amount} - BT-107 {allowance_total} + BT-108 "
                f"{charge_total} = {expected} but BT-109 is {net_total}",
            )
    # [BR-CO-14] Invoice total VAT amount = Σ VAT category tax amount.
    if doc.taxes and taxes_known and tax_total is not None:
        rows_sum = sum((t.amount for t in taxes), Decimal(0))
        if rows_sum != tax_total:
            log.add(
                Reason.TAX_SUM_MISMATCH,
                f"[BR-CO-14] the VAT breakdown sums to {rows_sum} but BT-110 is {tax_total}",
            )
    if taxes_known:
        if doc.lines and lines_known and charges_known:
            _breakdown_bases(log, taxes, items, allowances)
        _breakdown_amounts(log, taxes)
    # [BR-CO-15] total with VAT = total without VAT + total VAT.
    if (
        net_total is not None
        and tax_total is not None
        and total is not None
        and net_total + tax_total != total
    ):
        log.add(
            Reason.TOTAL_MISMATCH,
            f"[BR-CO-15] BT-109 {net_total} + BT-110 {tax_total} = "
            f"{net_total + tax_total} but BT-112 is {total}",
        )
    # [BR-CO-16] amount due = total with VAT - paid amount + rounding amount.
    if None not in (total, prepaid, rounding, payable):
        assert total is not None and prepaid is not None and rounding is not None
        expected = total - prepaid + rounding
        if expected != payable:
            log.add(
                Reason.PAYABLE_MISMATCH,
                f"[BR-CO-16] BT-112 {total} - BT-113 {prepaid} + BT-114 {rounding} = "
                f"{expected} but BT-115 is {payable}",
            )

    if log.problems:
        return _rejection(doc, tuple(log.problems))
    # No problem means every value was read; these only tell the type checker.
    assert doc.invoice_id and doc.seller and doc.buyer and issuer_key and doc.currency
    assert invoice_date is not None and amount is not None and total is not None
    assert allowance_total is not None and charge_total is not None and tax_total is not None
    assert prepaid is not None and rounding is not None and payable is not None
    credit = doc.credit_note_root or (doc.type_code or "") in CREDIT_NOTE_CODES
    return Invoice(
        customer_id=doc.customer_id,
        invoice_id=doc.invoice_id,
        invoice_date=invoice_date,
        seller=doc.seller,
        buyer=doc.buyer,
        currency=doc.currency,
        amount=amount,
        tax_total=tax_total,
        total=total,
        total_in_words=None,
        items=tuple(items),
        taxes=tuple(taxes),
        issuer_key=issuer_key,
        format=doc.format,
        document_type=DocumentType.CREDIT_NOTE if credit else DocumentType.INVOICE,
        type_code=doc.type_code,
        profile=doc.profile,
        due_date=due_date,
        seller_tax_id=doc.seller_tax_id,
        buyer_tax_id=doc.buyer_tax_id,
        allowance_total=allowance_total,
        charge_total=charge_total,
        net_total=net_total,
        prepaid=prepaid,
        rounding=rounding,
        payable=payable,
    )


def _breakdown_bases(
    log: _Log,
    taxes: list[Tax],
    items: list[Item],
    allowances: list[tuple[bool, Decimal, str | None, Decimal | None]],
) -> None:
    """[BR-S-08] and its kin (BR-Z-08, BR-E-08, BR-AE-08, BR-K-08, BR-G-08, BR-O-08,
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


def _breakdown_amounts(log: _Log, taxes: list[Tax]) -> None:
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


def _money(log: _Log, raw: str | None, label: str, absent: Decimal | None = None) -> Decimal | None:
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


def _number(log: _Log, raw: str | None, label: str, *, money: bool = False) -> Decimal | None:
    """Any other number the rules or the tables need: a decimal as written (money values
    must fit the DECIMAL(15,2) columns' integer digits)."""
    if raw is None:
        return None
    parsed = _decimal(raw)
    if parsed is None:
        log.add(Reason.BAD_NUMBER, f"{label} {raw[:40]!r} is not a number")
        return None
    if money:
        return _fits(log, *parsed, raw, label)
    value, decimals = parsed
    if decimals > QUANTITY_DECIMALS or value.adjusted() >= QUANTITY_INTEGER_DIGITS:
        log.add(
            Reason.BAD_NUMBER,
            f"{label} {raw[:40]!r} has more than {QUANTITY_INTEGER_DIGITS} integer digits or "
            f"{QUANTITY_DECIMALS} decimals",
        )
        return None
    return value


def _fits(log: _Log, value: Decimal, decimals: int, raw: str, label: str) -> Decimal | None:
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


def _date(log: _Log, raw: RawDate | None, label: str) -> date | None:
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
