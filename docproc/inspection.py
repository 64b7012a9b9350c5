"""What `docproc validate` reports for a local file: the same core as the pipeline,
without S3, a database or Prefect, so a user can check a vendor's file before wiring
the bucket, and we can see why a document was rejected.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any

from docproc import formats, rules
from docproc.formats.document import EInvoiceDocument, RawDate
from docproc.models import Format, Invoice, Item, Rejection, Tax

if TYPE_CHECKING:
    from rich.console import Console

_ITEM_FIELDS = tuple(f.name for f in fields(Item))
_TAX_FIELDS = tuple(f.name for f in fields(Tax))
_HEADER_FIELDS = tuple(f.name for f in fields(Invoice) if f.name not in ("items", "taxes"))
# An e-invoice's terms as read, in the order of the invoices table.
_TERMS = tuple(
    name
    for name in _HEADER_FIELDS
    if name in {f.name for f in fields(EInvoiceDocument)} and name != "format"
)


@dataclass(frozen=True)
class FileReport:
    """One file: its format, the values it would load (or those read, when rejected), and
    every reason it would be rejected for."""

    path: str
    size: int
    format: Format
    verdict: Invoice | Rejection
    header: dict[str, str | None]
    items: tuple[dict[str, str | None], ...]
    taxes: tuple[dict[str, str | None], ...]

    @property
    def accepted(self) -> bool:
        return isinstance(self.verdict, Invoice)

    def as_json(self) -> dict[str, Any]:
        rejection = self.verdict if isinstance(self.verdict, Rejection) else None
        return {
            "path": self.path,
            "size": self.size,
            "format": str(self.format),
            "status": "valid" if rejection is None else "rejected",
            "header": self.header,
            "items": list(self.items),
            "taxes": list(self.taxes),
            "reasons": [str(r) for r in rejection.reasons] if rejection else [],
            "problems": [{"reason": str(p.reason), "detail": p.detail} for p in rejection.problems]
            if rejection
            else [],
        }


def _cell(value: object) -> str | None:
    """A value as the CSV would write it: ISO dates, decimals as written, codes as text."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def check(path: str, data: bytes | None, size: int, limit: int) -> FileReport:
    """Judge one document as the pipeline would; `data` is None when it is over `limit`."""
    doc = formats.oversized(size, limit) if data is None else formats.read(data, max_bytes=limit)
    verdict = rules.judge(doc)
    if isinstance(verdict, Invoice):
        return FileReport(
            path,
            size,
            verdict.format,
            verdict,
            {name: _cell(getattr(verdict, name)) for name in _HEADER_FIELDS},
            tuple({n: _cell(getattr(i, n)) for n in _ITEM_FIELDS} for i in verdict.items),
            tuple({n: _cell(getattr(t, n)) for n in _TAX_FIELDS} for t in verdict.taxes),
        )
    return _as_read(path, size, doc, verdict)


def _as_read(path: str, size: int, doc: formats.Document, rejection: Rejection) -> FileReport:
    """A rejected document shows its values as written: what there is to fix."""
    if isinstance(doc, EInvoiceDocument):
        return _terms_as_read(path, size, doc, rejection)
    items = tuple(
        {"line_no": str(i.line_no), "description": i.description, "amount": i.amount, "tax": i.tax}
        for i in doc.items
    )
    taxes = tuple(dict[str, str | None](kind=kind, amount=amount) for kind, amount in doc.taxes)
    header: dict[str, str | None] = dict(doc.fields)
    if doc.currency is not None:
        header["currency"] = doc.currency
    return FileReport(path, size, rejection.format, rejection, header, items, taxes)


def _terms_as_read(path: str, size: int, doc: EInvoiceDocument, rejection: Rejection) -> FileReport:
    """An e-invoice's business terms as written (dates in their own notation)."""
    header: dict[str, str | None] = {}
    for name in _TERMS:
        value = getattr(doc, name)
        if value is not None:
            header[name] = value.text if isinstance(value, RawDate) else _cell(value)
    return FileReport(
        path,
        size,
        rejection.format,
        rejection,
        header,
        tuple({k: _cell(v) for k, v in asdict(line).items()} for line in doc.lines),
        tuple({k: _cell(v) for k, v in asdict(tax).items()} for tax in doc.taxes),
    )


def render(report: FileReport, console: Console) -> None:
    """The report as Rich tables: the header values, the items, the taxes, the reasons."""
    from rich.table import Table

    verdict = "[green]valid[/]" if report.accepted else "[bold red]rejected[/]"
    console.print(f"[bold]{report.path}[/]: {report.format}, {report.size} bytes, {verdict}")
    title = "values it would load" if report.accepted else "values as read"
    header = Table("field", "value", title=title, title_justify="left")
    for name, value in report.header.items():
        header.add_row(name, "" if value is None else value)
    if report.header:
        console.print(header)
    for rows, what in ((report.items, "items"), (report.taxes, "taxes")):
        if not rows:
            continue
        # Only the columns some row fills: e-invoice terms stay out of a text-v1 table.
        columns = [c for c in rows[0] if any(row[c] is not None for row in rows)]
        table = Table(*columns, title=what, title_justify="left")
        for row in rows:
            table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
        console.print(table)
    if isinstance(report.verdict, Rejection):
        reasons = Table("reason", "detail", title="would be rejected for", title_justify="left")
        for problem in report.verdict.problems:
            reasons.add_row(str(problem.reason), problem.detail)
        console.print(reasons)
