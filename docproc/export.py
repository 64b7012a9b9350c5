"""The bytes docproc writes to the target bucket: invoice CSVs and rejection reports (SPEC 5)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from docproc import rows
from docproc.duplicates import Decision, Kind
from docproc.ids import path_segment
from docproc.markdown import cell
from docproc.models import Finding, Format, Invoice, Item, ObjectRef, Rejection

# v1's columns first, unchanged, then v2's (SPEC section 5): a v1 reader keeps working.
CSV_COLUMNS = (
    "customer_id",
    "invoice_id",
    "invoice_date",
    "seller",
    "buyer",
    "currency",
    "amount",
    "tax_total",
    "total",
    "total_in_words",
    "line_no",
    "description",
    "item_amount",
    "item_tax",
    "issuer_key",
    "document_type",
    "type_code",
    "format",
    "seller_tax_id",
    "buyer_tax_id",
    "due_date",
    "allowance_total",
    "charge_total",
    "net_total",
    "prepaid",
    "rounding",
    "payable",
    "line_id",
    "item_quantity",
    "item_unit_code",
    "item_unit_price",
    "item_tax_category",
    "item_tax_rate",
)
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
REPORT_CONTENT_TYPE = "application/json"

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_key(prefix: str, issuer_key: str, invoice_id: str) -> str:
    """`{prefix}{issuer_key}/{invoice_id}.csv`, each id one percent-encoded segment: a v1
    id keeps its key, and `INV/18-19/0001` stays in its folder."""
    return f"{prefix}{path_segment(issuer_key)}/{path_segment(invoice_id)}.csv"


def report_key(prefix: str, source_key: str) -> str:
    return f"{prefix}{source_key}.json"


def _text(value: str | None) -> str:
    """Text as a spreadsheet will not execute it: formulas are defused with a leading quote."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _number(value: Decimal | None) -> str:
    """Quantities, prices and rates keep the decimals written, never an exponent."""
    return "" if value is None else format(value, "f")


def _source(column: str) -> tuple[type[Invoice] | type[Item], str]:
    """The field a CSV column holds: the invoice's of that name, else the item's (`item_` cut)."""
    if column in rows.FIELDS[Invoice]:
        return Invoice, column
    if (name := column.removeprefix("item_")) in rows.FIELDS[Item]:
        return Item, name
    raise TypeError(f"CSV column {column} names no field of Invoice or Item")


_SOURCES = [_source(column) for column in CSV_COLUMNS]


def _csvcell(cls: type[Invoice] | type[Item], name: str, value: object) -> str:
    """A value as SPEC section 5 writes it: ISO dates, money with 2 decimals, quantities
    and rates as written, text defused."""
    if value is None:
        return ""
    if isinstance(value, Enum):  # a code of docproc's own (format, document type)
        return str(value)
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, Decimal):
        return _money(value) if rows.is_money(cls, name) else _number(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def invoice_csv(invoice: Invoice) -> bytes:
    """One row per item (one with empty item cells when there are none), RFC 4180 quoting."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_COLUMNS)
    for item in invoice.items or (None,):
        writer.writerow(
            ""
            if cls is Item and item is None
            else _csvcell(cls, name, getattr(invoice if cls is Invoice else item, name))
            for cls, name in _SOURCES
        )
    return out.getvalue().encode("utf-8")


def rejection_report(
    ref: ObjectRef,
    rejection: Rejection,
    flow_run_id: str | None,
    rejected_at: datetime,
    extra: dict[str, Any] | None = None,
) -> bytes:
    """The JSON a person reads to learn why a document was refused."""
    report: dict[str, Any] = {
        "bucket": ref.bucket,
        "key": ref.key,
        "etag": ref.etag,
        "format": str(rejection.format),
        "reasons": [str(r) for r in rejection.reasons],
        "details": list(rejection.details),
        "flow_run_id": flow_run_id,
        "rejected_at": rejected_at.isoformat() + "Z",
    }
    if rejection.findings:
        report |= findings_report(rejection.findings)
    report |= extra or {}
    return json.dumps(report, indent=2, ensure_ascii=False).encode("utf-8")


# What a report or an artifact lists of a long list (items, findings): the first rows and
# a count, whatever the document (SPEC 3: at most 20 details per code).
MAX_LISTED = 20


def findings_report(findings: Sequence[Finding]) -> dict[str, Any]:
    """The official rules' findings as a report lists them (SPEC 3.1): the first 20, and
    how many there were."""
    return {
        "findings": [f.as_json() for f in findings[:MAX_LISTED]],
        "finding_count": len(findings),
    }


def findings_markdown(findings: Sequence[Finding]) -> list[str]:
    """The findings' section of an artifact: the first 20 as a table, and the count."""
    if not findings:
        return []
    shown = findings[:MAX_LISTED]
    more = f" (the first {len(shown)} of {len(findings)})" if len(shown) < len(findings) else ""
    return [
        "",
        f"**The official EN 16931 rules' findings{more}**",
        "",
        "| rule | flag | message | location |",
        "|---|---|---|---|",
        *(
            f"| `{cell(f.rule)}` | {f.flag} | {cell(f.message)} | {cell(f.location)} |"
            for f in shown
        ),
    ]


def _party(name: str, tax_id: str | None) -> str:
    return cell(name) + (f" (VAT id {cell(tax_id)})" if tax_id else "")


def invoice_markdown(invoice: Invoice, source_uri: str, csv_uri: str) -> str:
    """The summary the Prefect UI shows as the run's artifact; an e-invoice's also walks
    its totals down to the amount due (BT-106 to BT-115) and shows its VAT breakdown."""
    einvoice = invoice.format is not Format.TEXT_V1
    currency = f" {invoice.currency}" if invoice.currency else ""
    lines = [
        f"# Invoice {cell(invoice.invoice_id)} loaded",
        "",
        "| field | value |",
        "|---|---|",
        f"| issuer | {cell(invoice.issuer_key)} |",
        f"| customer | {cell(invoice.customer_id or '')} |",
        f"| format | {invoice.format} ({invoice.document_type}) |",
        f"| date | {invoice.invoice_date.isoformat()} |",
        f"| seller | {_party(invoice.seller, invoice.seller_tax_id)} |",
        f"| buyer | {_party(invoice.buyer, invoice.buyer_tax_id)} |",
    ]
    if einvoice:
        lines += [
            f"| type code | {cell(invoice.type_code or '')} |",
            f"| profile | {cell(invoice.profile or '')} |",
            f"| due date | {invoice.due_date.isoformat() if invoice.due_date else ''} |",
            f"| lines (BT-106) | {_money(invoice.amount)}{currency} |",
            f"| − allowances (BT-107) | {_money(invoice.allowance_total)} |",
            f"| + charges (BT-108) | {_money(invoice.charge_total)} |",
            f"| = net (BT-109) | {_money(invoice.net_total)} |",
            f"| + VAT (BT-110) | {_money(invoice.tax_total)} |",
            f"| = total (BT-112) | **{_money(invoice.total)}** |",
            f"| − prepaid (BT-113) | {_money(invoice.prepaid)} |",
            f"| + rounding (BT-114) | {_money(invoice.rounding)} |",
            f"| = payable (BT-115) | **{_money(invoice.payable)}**{currency} |",
        ]
    else:
        lines += [
            f"| amount | {_money(invoice.amount)}{currency} |",
            f"| tax | {_money(invoice.tax_total)} |",
            f"| total | **{_money(invoice.total)}** |",
            f"| payable | {_money(invoice.payable)} |",
        ]
    lines += [f"| source | `{source_uri}` |", f"| CSV | `{csv_uri}` |"]
    items = invoice.items[:MAX_LISTED]
    if invoice.items and einvoice:
        lines += [
            "",
            "| # | item | quantity | net price | VAT | amount |",
            "|---:|---|---:|---:|---|---:|",
        ]
        lines += [
            f"| {cell(i.line_id or i.line_no)} | {cell(i.description)} "
            f"| {_number(i.quantity)} {cell(i.unit_code or '')} | {_number(i.unit_price)} "
            f"| {cell(i.tax_category or '')} {_number(i.tax_rate)} | {_money(i.amount)} |"
            for i in items
        ]
    elif invoice.items:
        lines += ["", "| # | item | amount | tax |", "|---:|---|---:|---:|"]
        lines += [
            f"| {i.line_no} | {cell(i.description)} | {_money(i.amount)} | {_money(i.tax)} |"
            for i in items
        ]
    if len(items) < len(invoice.items):
        lines += ["", f"The first {len(items)} of {len(invoice.items)} lines; the CSV has all."]
    if invoice.taxes:
        title = "VAT breakdown (BG-23)" if einvoice else "Taxes"
        lines += [
            "",
            f"**{title}**",
            "",
            "| tax | category | rate | taxable | amount |",
            "|---|---|---:|---:|---:|",
        ]
        lines += [
            f"| {cell(t.kind)} | {cell(t.category or '')} | {_number(t.rate)} "
            f"| {_money(t.taxable_amount)} | {_money(t.amount)} |"
            for t in invoice.taxes
        ]
    lines += findings_markdown(invoice.findings)
    return "\n".join(lines) + "\n"


def rejection_markdown(ref: ObjectRef, rejection: Rejection, report_uri: str) -> str:
    lines = [
        f"# Rejected: `{ref.uri}`",
        "",
        f"Reasons: **{', '.join(rejection.reasons)}**",
        "",
        f"Format: {rejection.format}"
        + (f"; invoice `{rejection.invoice_id}`" if rejection.invoice_id else "")
        + (f" from issuer `{rejection.issuer_key}`" if rejection.issuer_key else ""),
        "",
        "| code | detail |",
        "|---|---|",
        *(f"| `{p.reason}` | {cell(p.detail)} |" for p in rejection.problems),
        *findings_markdown(rejection.findings),
        "",
        f"Report: `{report_uri}`",
    ]
    return "\n".join(lines) + "\n"


def conflict_fields(decision: Decision) -> dict[str, Any]:
    """What a conflict's report adds: the loaded document and every value, old and new."""
    return {
        "duplicate_of": decision.other.uri if decision.other else None,
        "duplicate_of_etag": decision.other.ref.etag if decision.other else None,
        "differences": [
            {"field": d.field, "old": d.old, "new": d.new} for d in decision.differences
        ],
    }


def decision_markdown(decision: Decision, source_uri: str, output_uri: str | None) -> str:
    """The run's artifact for an invoice the loader judged (SPEC section 10)."""
    inv = decision.invoice
    other = f"`{decision.other.uri}`" if decision.other else "another document"
    if decision.kind == Kind.DUPLICATE:
        return (
            f"# Duplicate: `{source_uri}`\n\nInvoice {cell(inv.issuer_key)}/"
            f"{cell(inv.invoice_id)} is already loaded from {other} with the same values: "
            "nothing changed.\n"
        )
    if decision.kind == Kind.CONFLICT:
        lines = [
            f"# Conflict held: `{source_uri}`",
            "",
            f"Invoice {cell(inv.issuer_key)}/{cell(inv.invoice_id)} is already loaded from "
            f"{other} with other values; the loaded invoice stays. "
            "Reason: **conflicting_duplicate**.",
            "",
            "| value | loaded | this document |",
            "|---|---|---|",
            *(f"| {cell(d.field)} | {cell(d.old)} | {cell(d.new)} |" for d in decision.differences),
            "",
            f"Report: `{output_uri}`",
        ]
        return "\n".join(lines) + "\n"
    text = invoice_markdown(inv, source_uri, output_uri or "")
    if decision.kind == Kind.REPLACED:
        text += f"\nReplaced the invoice loaded from {other}.\n"
    if decision.suspect_of is not None:
        text += (
            f"\n**possible_duplicate**: invoice {cell(decision.suspect_of.invoice_id)} "
            f"from `{decision.suspect_of.uri}` has the same issuer, total, currency and date.\n"
        )
    return text
