"""The bytes docproc writes to the target bucket: invoice CSVs and rejection reports (SPEC 5)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from decimal import Decimal

from docproc.models import Invoice, ObjectRef, Rejection

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
)
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
REPORT_CONTENT_TYPE = "application/json"

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_key(prefix: str, customer_id: str, invoice_id: str) -> str:
    return f"{prefix}{customer_id}/{invoice_id}.csv"


def report_key(prefix: str, source_key: str) -> str:
    return f"{prefix}{source_key}.json"


def _text(value: str | None) -> str:
    """Text as a spreadsheet will not execute it: formulas are defused with a leading quote."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def invoice_csv(invoice: Invoice) -> bytes:
    """One row per item (one with empty item cells when there are none), RFC 4180 quoting."""
    head = [
        _text(invoice.customer_id),
        _text(invoice.invoice_id),
        invoice.invoice_date.isoformat(),
        _text(invoice.seller),
        _text(invoice.buyer),
        _text(invoice.currency),
        _money(invoice.amount),
        _money(invoice.tax_total),
        _money(invoice.total),
        _text(invoice.total_in_words),
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(CSV_COLUMNS)
    for item in invoice.items:
        writer.writerow(
            [
                *head,
                str(item.line_no),
                _text(item.description),
                _money(item.amount),
                _money(item.tax),
            ]
        )
    if not invoice.items:
        writer.writerow([*head, "", "", "", ""])
    return out.getvalue().encode("utf-8")


def rejection_report(
    ref: ObjectRef, rejection: Rejection, flow_run_id: str | None, rejected_at: datetime
) -> bytes:
    """The JSON a person reads to learn why a document was refused."""
    report = {
        "bucket": ref.bucket,
        "key": ref.key,
        "etag": ref.etag,
        "reasons": [str(r) for r in rejection.reasons],
        "details": list(rejection.details),
        "flow_run_id": flow_run_id,
        "rejected_at": rejected_at.isoformat() + "Z",
    }
    return json.dumps(report, indent=2, ensure_ascii=False).encode("utf-8")


def _cell(value: object) -> str:
    """Markdown table cells: pipes and newlines would break the row."""
    return str(value).replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def invoice_markdown(invoice: Invoice, source_uri: str, csv_uri: str) -> str:
    """The summary the Prefect UI shows as the run's artifact."""
    lines = [
        f"# Invoice {_cell(invoice.invoice_id)} loaded",
        "",
        "| field | value |",
        "|---|---|",
        f"| customer | {_cell(invoice.customer_id)} |",
        f"| date | {invoice.invoice_date.isoformat()} |",
        f"| seller | {_cell(invoice.seller)} |",
        f"| buyer | {_cell(invoice.buyer)} |",
        f"| amount | {_money(invoice.amount)} {invoice.currency or ''} |",
        f"| tax | {_money(invoice.tax_total)} |",
        f"| total | **{_money(invoice.total)}** |",
        f"| source | `{source_uri}` |",
        f"| CSV | `{csv_uri}` |",
    ]
    if invoice.items:
        lines += ["", "| # | item | amount | tax |", "|---:|---|---:|---:|"]
        lines += [
            f"| {i.line_no} | {_cell(i.description)} | {_money(i.amount)} | {_money(i.tax)} |"
            for i in invoice.items
        ]
    return "\n".join(lines) + "\n"


def rejection_markdown(ref: ObjectRef, rejection: Rejection, report_uri: str) -> str:
    lines = [
        f"# Rejected: `{ref.uri}`",
        "",
        f"Reasons: **{', '.join(rejection.reasons)}**",
        "",
        "| code | detail |",
        "|---|---|",
        *(f"| `{p.reason}` | {_cell(p.detail)} |" for p in rejection.problems),
        "",
        f"Report: `{report_uri}`",
    ]
    return "\n".join(lines) + "\n"
