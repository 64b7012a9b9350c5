"""The VAT and spend reports of SPEC section 12: sums of the loaded invoices, per month.

The `invoices` table holds exactly the loaded invoices (a held conflict or a duplicate
never reaches it), so the reports read it alone, with its `invoice_taxes`.

Sums are made in SQL, in whole cents: SQLite (the demo's database) stores DECIMAL
columns as floating point, where only amounts turned into whole cents one by one add
up exactly (MySQL's DECIMAL would anyway). A credit note counts negative: its document
writes its amounts as positive (EN 16931), and it takes back that much VAT and spend;
one written with negative amounts reverses to positive, as EN 16931 reads it.

Text-v1 invoices name a tax by its kind (`SGST`, `CGST`, ...) and give neither a VAT
category nor a rate nor a taxable amount: their rows are reported under the kind as
the category, with the rate and the taxable amount empty (never a guessed base).
"""

from __future__ import annotations

import calendar
import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Integer, and_, case, cast, extract, func, select
from sqlalchemy.sql.elements import ColumnElement

from docproc.export import _text as spreadsheet_text
from docproc.models import DocumentType
from docproc.schema import invoice_taxes, invoices

VAT_COLUMNS = (
    "period",
    "currency",
    "category",
    "rate",
    "taxable_amount",
    "tax_amount",
    "invoices",
)
SPEND_COLUMNS = ("period", "issuer_key", "seller", "currency", "invoices", "total")

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


def vat(
    engine: Engine,
    start: date | None = None,
    end: date | None = None,
    issuer: str | None = None,
) -> pd.DataFrame:
    """Per period, currency, tax category and rate: taxable amount, tax and invoice count.

    `taxable_amount` is empty (None) where any of the group's entries gives none (text
    v1): a partial sum would pass for the whole. `invoices` counts documents, credit
    notes included.
    """
    year, month = _period(invoices.c.invoice_date)
    category = func.coalesce(invoice_taxes.c.category, invoice_taxes.c.kind)
    sign = _sign()
    # One row per invoice and group first: an invoice with two entries of one category
    # and rate (text v1's two SGST lines) is one invoice of that group.
    per_invoice = (
        select(
            year.label("year"),
            month.label("month"),
            invoices.c.currency,
            category.label("category"),
            invoice_taxes.c.rate,
            func.sum(sign * _cents(invoice_taxes.c.taxable_amount)).label("taxable"),
            func.count(invoice_taxes.c.taxable_amount).label("given"),
            func.count().label("entries"),
            func.sum(sign * _cents(invoice_taxes.c.amount)).label("tax"),
        )
        .select_from(
            invoices.join(
                invoice_taxes,
                and_(
                    invoice_taxes.c.issuer_key == invoices.c.issuer_key,
                    invoice_taxes.c.invoice_id == invoices.c.invoice_id,
                ),
            )
        )
        .where(*_filters(start, end, issuer))
        .group_by(
            invoices.c.issuer_key,
            invoices.c.invoice_id,
            year,
            month,
            invoices.c.currency,
            category,
            invoice_taxes.c.rate,
        )
        .subquery()
    )
    p = per_invoice.c
    keys = (p.year, p.month, p.currency, p.category, p.rate)
    query = (
        select(
            *keys,
            func.sum(p.taxable),
            func.sum(p.given),
            func.sum(p.entries),
            func.sum(p.tax),
            func.count(),
        )
        .group_by(*keys)
        .order_by(*keys)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    records = [
        (
            _month_text(y, m),
            currency,
            cat,
            None if rate is None else Decimal(plain(rate)),
            _money(taxable) if given == entries else None,
            _money(tax),
            int(count),
        )
        for y, m, currency, cat, rate, taxable, given, entries, tax, count in rows
    ]
    return _frame(records, VAT_COLUMNS)


def spend(
    engine: Engine,
    start: date | None = None,
    end: date | None = None,
    issuer: str | None = None,
) -> pd.DataFrame:
    """Per period, issuer and currency: the invoices and the sum of their totals (BT-112).

    `seller` is the issuer's name as its invoices of the period write it (the greatest,
    should two spell it differently): the issuer is `issuer_key`, not the name.
    """
    year, month = _period(invoices.c.invoice_date)
    keys = (year, month, invoices.c.issuer_key, invoices.c.currency)
    query = (
        select(
            *keys,
            func.max(invoices.c.seller),
            func.count(),
            func.sum(_sign() * _cents(invoices.c.total)),
        )
        .where(*_filters(start, end, issuer))
        .group_by(*keys)
        .order_by(*keys)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    records = [
        (_month_text(y, m), issuer_key, seller, currency, int(count), _money(total))
        for y, m, issuer_key, currency, seller, count, total in rows
    ]
    return _frame(records, SPEND_COLUMNS)


def _period(day: Any) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """Year and month as integers, in SQL both databases speak (SQLite keeps dates as text)."""
    return extract("year", day), extract("month", day)


def _sign() -> ColumnElement[int]:
    return case((invoices.c.document_type == DocumentType.CREDIT_NOTE.value, -1), else_=1)


def _cents(amount: Any) -> ColumnElement[int]:
    """A 2-decimal amount as whole cents, exact even from SQLite's floating point."""
    return cast(func.round(amount * 100), Integer)


def _filters(start: date | None, end: date | None, issuer: str | None) -> list[Any]:
    """`--from` and `--to` are inclusive; every value a bound parameter."""
    where: list[Any] = []
    if start is not None:
        where.append(invoices.c.invoice_date >= start)
    if end is not None:
        where.append(invoices.c.invoice_date <= end)
    if issuer is not None:
        where.append(invoices.c.issuer_key == issuer)
    return where


def _month_text(year: Any, month: Any) -> str:
    return f"{int(year):04d}-{int(month):02d}"


def _money(cents: Any) -> Decimal:
    """Whole cents (int, or MySQL's DECIMAL sum) back to an amount with 2 decimals."""
    return Decimal(int(cents)).scaleb(-2)


def _frame(records: Sequence[tuple[Any, ...]], columns: Sequence[str]) -> pd.DataFrame:
    """Object columns: Decimals stay exact and None stays None (pandas 3 would turn a
    text column's None into NaN)."""
    frame = pd.DataFrame(list(records), columns=list(columns), dtype=object)
    return frame.astype({"invoices": "int64"})


def plain(value: Decimal) -> str:
    """A number as a person writes it: without the trailing zeros a column's scale adds,
    never with an exponent (`0E-10` is 0, `1.0000000000` is 1, `5.50` is 5.5).

    For rates, quantities and prices read back from DECIMAL(25,10) columns (MySQL and
    SQLite alike); money keeps its 2 decimals and needs nothing.
    """
    return format(value.normalize(), "f") if value else "0"  # not "-0"


def parse_month(text: str) -> tuple[date, date]:
    """`YYYY-MM` as its first and last day; ValueError on anything else."""
    m = _MONTH.fullmatch(text.strip())
    if m is None or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"{text!r} is not a month (expected YYYY-MM)")
    return _month_days(int(m.group(1)), int(m.group(2)))


def month_before(day: date) -> tuple[date, date]:
    """The first and last day of the month before `day`'s: what the monthly run reports."""
    last = day.replace(day=1) - timedelta(days=1)
    return _month_days(last.year, last.month)


def _month_days(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def cell(value: object) -> str:
    """A cell as text: a Decimal as it stands (money keeps its 2 decimals), None empty."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def rows(frame: pd.DataFrame) -> list[list[str]]:
    """The frame's rows as text, for a printed table or a Prefect table artifact."""
    return [[cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]


def records(frame: pd.DataFrame) -> list[dict[str, str]]:
    """The rows as column -> text, the shape of a Prefect table artifact."""
    return [dict(zip(frame.columns, row, strict=True)) for row in rows(frame)]


def to_csv(frame: pd.DataFrame) -> bytes:
    """UTF-8, a header row, RFC 4180 as the invoice CSVs (SPEC 5): text cells that would
    start a spreadsheet formula (a seller's name comes from the document) are defused."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(frame.columns)
    writer.writerows(_csv_row(row) for row in frame.itertuples(index=False, name=None))
    return out.getvalue().encode("utf-8")


def _csv_row(row: Iterable[object]) -> list[str]:
    return [spreadsheet_text(v) if isinstance(v, str) else cell(v) for v in row]


def describe(report: str, start: date | None, end: date | None, issuer: str | None) -> str:
    """One line saying what a report sums, for a table's title or an artifact."""
    what = {
        "vat": "Taxable amounts and VAT per month, currency, tax category and rate",
        "spend": "Totals per month, issuer and currency",
    }[report]
    dated = f"dated {start or 'any day'} to {end or 'any day'}" if start or end else "of any date"
    of = f" from issuer {issuer}" if issuer else ""
    return f"{what}, of the loaded invoices{of} {dated}; credit notes count negative."
