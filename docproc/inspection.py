"""What `docproc validate` reports for a local file: the same core as the pipeline,
without S3, a database or Prefect, so a user can check a vendor's file before wiring
the bucket, and we can see why a document was rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

from docproc import formats, rules
from docproc.formats.document import EInvoiceDocument, ExtractedDocument, RawDate
from docproc.models import Format, Invoice, Item, OfficialRules, Rejection, Tax

if TYPE_CHECKING:
    from rich.console import Console

T = TypeVar("T")

_ITEM_FIELDS = tuple(f.name for f in fields(Item))
_TAX_FIELDS = tuple(f.name for f in fields(Tax))
_HEADER_FIELDS = tuple(f.name for f in fields(Invoice) if f.name not in ("items", "taxes"))
# What a report shows of a document, whatever its size: the first rows, and the first
# characters of a value (a hostile file can hold 100,000 lines or a 4 MB name).
MAX_ROWS = 50
MAX_CELL = 500
MAX_FINDINGS_SHOWN = 20
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
    items: tuple[dict[str, str | None], ...]  # the first MAX_ROWS of `item_count`
    taxes: tuple[dict[str, str | None], ...]  # the first MAX_ROWS of `tax_count`
    item_count: int
    tax_count: int

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
            "item_count": self.item_count,
            "taxes": list(self.taxes),
            "tax_count": self.tax_count,
            "reasons": [str(r) for r in rejection.reasons] if rejection else [],
            "problems": [{"reason": str(p.reason), "detail": p.detail} for p in rejection.problems]
            if rejection
            else [],
            "findings": [f.as_json() for f in self.verdict.findings],
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
    text = str(value)
    if len(text) > MAX_CELL:
        return f"{text[:MAX_CELL]}... ({len(text)} characters)"
    return text


def _rows(
    values: Sequence[T], row: Callable[[T], dict[str, str | None]]
) -> tuple[dict[str, str | None], ...]:
    """The first MAX_ROWS of `values`, each as a row of cells."""
    return tuple(row(v) for v in values[:MAX_ROWS])


def check(
    path: str,
    data: bytes | None,
    size: int,
    limit: int,
    pdf: formats.PdfOptions | None = None,
    official_rules: OfficialRules = OfficialRules.OFF,
) -> FileReport:
    """Judge one document as the pipeline would; `data` is None when it is over `limit`;
    `pdf` says how a plain PDF is read (settings' OCR and templates; the defaults else),
    `official_rules` whether the official rules judge too (SPEC 3.1)."""
    doc: formats.Document
    if data is None:
        doc = formats.oversized(size, limit)
    elif pdf is None:
        doc = formats.read(data, max_bytes=limit)
    else:
        doc = formats.read(data, max_bytes=limit, pdf=pdf)
    verdict = rules.judge(doc, official_rules)
    if isinstance(verdict, Invoice):
        return FileReport(
            path,
            size,
            verdict.format,
            verdict,
            {name: _cell(getattr(verdict, name)) for name in _HEADER_FIELDS},
            _rows(verdict.items, lambda i: {n: _cell(getattr(i, n)) for n in _ITEM_FIELDS}),
            _rows(verdict.taxes, lambda t: {n: _cell(getattr(t, n)) for n in _TAX_FIELDS}),
            len(verdict.items),
            len(verdict.taxes),
        )
    return _as_read(path, size, doc, verdict)


def _as_read(path: str, size: int, doc: formats.Document, rejection: Rejection) -> FileReport:
    """A rejected document shows its values as written: what there is to fix."""
    if isinstance(doc, EInvoiceDocument):
        return _terms_as_read(path, size, doc, rejection)
    if isinstance(doc, ExtractedDocument):
        return _fields_as_read(path, size, doc, rejection)
    items = _rows(
        doc.items,
        lambda i: {
            "line_no": str(i.line_no),
            "description": _cell(i.description),
            "amount": _cell(i.amount),
            "tax": _cell(i.tax),
        },
    )
    taxes = _rows(doc.taxes, lambda t: {"kind": t[0], "amount": _cell(t[1])})
    header = {name: _cell(value) for name, value in doc.fields.items()}
    if doc.currency is not None:
        header["currency"] = doc.currency
    return FileReport(
        path,
        size,
        rejection.format,
        rejection,
        header,
        items,
        taxes,
        len(doc.items),
        len(doc.taxes),
    )


def _fields_as_read(
    path: str, size: int, doc: ExtractedDocument, rejection: Rejection
) -> FileReport:
    """A template's fields as it gave them (SPEC 2.6), its lines as items."""
    header: dict[str, str | None] = {}
    if doc.template is not None:
        header["template"] = doc.template
    for name, value in doc.fields.items():
        if name != "lines":
            header[name] = _cell(value)
    lines = doc.fields.get("lines")
    rows = [line for line in lines if isinstance(line, dict)] if isinstance(lines, list) else []
    # One set of columns for every row: a template's lines differ (a note, a header).
    columns = list(dict.fromkeys(str(k) for line in rows[:MAX_ROWS] for k in line))
    return FileReport(
        path,
        size,
        rejection.format,
        rejection,
        header,
        _rows(rows, lambda line: {c: _cell(line.get(c)) for c in columns}),
        (),
        len(rows),
        0,
    )


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
        _rows(doc.lines, lambda line: {k: _cell(v) for k, v in asdict(line).items()}),
        _rows(doc.taxes, lambda tax: {k: _cell(v) for k, v in asdict(tax).items()}),
        len(doc.lines),
        len(doc.taxes),
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
    for rows, count, what in (
        (report.items, report.item_count, "items"),
        (report.taxes, report.tax_count, "taxes"),
    ):
        if not rows:
            continue
        # Only the columns some row fills: e-invoice terms stay out of a text-v1 table.
        columns = [c for c in rows[0] if any(row[c] is not None for row in rows)]
        title = what if count == len(rows) else f"{what}: the first {len(rows)} of {count}"
        table = Table(*columns, title=title, title_justify="left")
        for row in rows:
            table.add_row(*("" if row[c] is None else str(row[c]) for c in columns))
        console.print(table)
    if report.verdict.findings:
        shown = report.verdict.findings[:MAX_FINDINGS_SHOWN]
        title = "the official rules' findings (SPEC 3.1)"
        if len(shown) < len(report.verdict.findings):
            title += f": the first {len(shown)} of {len(report.verdict.findings)}"
        found = Table("rule", "flag", "message", "location", title=title, title_justify="left")
        for f in shown:
            found.add_row(f.rule, str(f.flag), f.message, f.location)
        console.print(found)
    if isinstance(report.verdict, Rejection):
        reasons = Table("reason", "detail", title="would be rejected for", title_justify="left")
        for problem in report.verdict.problems:
            reasons.add_row(str(problem.reason), problem.detail)
        console.print(reasons)
