"""`templates list` and `templates test FILE` (SPEC 9): what a user needs to write an
invoice2data template for a vendor's plain PDFs (SPEC 2.6), and to check it.

`test` shows the text exactly as the templates see it (pdftotext's layout, or OCR's),
which template matched, or, when none did, how close the nearest ones came (their
missing keywords), every field the template gave, and the verdict docproc's rules would
give. Values from the document are printed as text, never read as Rich markup.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from docproc.cli.common import EXIT_OK, EXIT_REJECTED, console, fail, load_settings

if TYPE_CHECKING:
    from docproc.formats.plainpdf import PdfOptions
    from docproc.formats.templates import Template, TemplateSet
    from docproc.models import Invoice, Rejection

app = typer.Typer(
    name="templates",
    help="The invoice2data templates that read plain PDFs: list them, test one on a PDF.",
    no_args_is_help=True,
)

# How many near misses `test` lists when no template matches.
CANDIDATES = 8

AsJson = Annotated[bool, typer.Option("--json", help="JSON for scripts.")]


@app.command("list")
def list_templates(as_json: AsJson = False) -> None:
    """The templates in use, in the order they are tried: the user's (DOCPROC_TEMPLATES)
    first, then invoice2data's shipped ones, highest priority first."""
    options = _options()
    templates = options.template_set()
    if as_json:
        rows = [_describe(t) for t in templates.templates]
        typer.echo(json.dumps({"templates": rows, "problems": list(templates.problems)}, indent=2))
        raise typer.Exit(EXIT_OK)
    from rich.table import Table
    from rich.text import Text

    table = Table("name", "from", "priority", "issuer", "keywords", title_justify="left")
    table.title = f"{len(templates)} templates, in the order they are tried"
    for t in templates.templates:
        table.add_row(
            Text(t.name),
            t.origin,
            str(t.priority),
            Text(t.issuer),
            Text(", ".join(t.keywords)[:120]),
        )
    console.print(table)
    for problem in templates.problems:
        console.print(Text(f"not used: {problem}", style="yellow"), soft_wrap=True)
    raise typer.Exit(EXIT_OK)


@app.command("test")
def test(
    file: Annotated[Path, typer.Argument(help="A plain PDF (or the text of one, as .txt).")],
    template: Annotated[
        str | None,
        typer.Option("--template", metavar="NAME", help="Apply this template, matched or not."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Show a PDF's text as the templates see it, the template that matches it (or the
    keywords the nearest ones miss) and every field it gives.

    Exit status: 0 a template reads a valid invoice, 1 none matches or the invoice would
    be rejected, 2 a file or template that cannot be read.
    """
    from docproc import rules
    from docproc.formats import plainpdf
    from docproc.formats.document import ExtractedDocument
    from docproc.models import Format, Invoice, Problem, Reason

    options = _options()
    templates = options.template_set()
    chosen = None
    if template is not None:
        chosen = templates.named(template)
        if chosen is None:
            fail(f"no template named {template!r} (see `docproc templates list`)")
    data, limit = _read(file)
    embedded = _embedded(data, limit)
    if data.startswith(b"%PDF-"):
        read = plainpdf.read_text(data, options)
        if isinstance(read, Problem):
            _unreadable(file, read, as_json)
        fmt, content = read
        text = content.text
    else:  # the text of a PDF, saved: what a template author iterates on
        fmt, text = Format.PDF_TEXT, data.decode("utf-8", errors="replace")
    matched = templates.match(text)
    used = chosen or matched
    fields: dict[str, Any] = {}
    error: str | None = None
    if used is not None:
        try:
            fields = used.extract(text)
        except Exception as exc:  # the user's regexes: show what went wrong
            error = f"{type(exc).__name__}: {exc}"
    candidates = [] if matched is not None else _nearest(templates, text)
    if used is None:
        doc = plainpdf.apply_templates(text, fmt, templates)  # no_template, as the pipeline
    elif error is not None:
        problem = Problem(Reason.MISSING_FIELD, f"template {used.name} cannot be applied: {error}")
        doc = ExtractedDocument(fmt, (problem,), template=used.name)
    else:
        doc = ExtractedDocument(fmt, template=used.name, fields=fields)
    verdict = rules.judge(doc)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "path": str(file),
                    "format": str(fmt),
                    "embedded_invoice": embedded,
                    "text": text,
                    "matched": matched.name if matched else None,
                    "template": _describe(used) if used else None,
                    "fields": _plain(fields),
                    "error": error,
                    "candidates": [_candidate(t, text) for t in candidates],
                    "verdict": _verdict(verdict),
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        _show(file, fmt, text, embedded, matched, used, fields, error, candidates, text_of=text)
        _show_verdict(verdict)
    raise typer.Exit(EXIT_OK if isinstance(verdict, Invoice) else EXIT_REJECTED)


def _options() -> PdfOptions:
    from docproc.errors import DocprocError
    from docproc.pdfoptions import pdf_options
    from docproc.settings import get_settings

    load_settings()
    try:
        return pdf_options(get_settings())
    except DocprocError as exc:
        fail(str(exc))


def _read(file: Path) -> tuple[bytes, int]:
    from docproc.settings import get_settings

    if not file.is_file():
        fail(f"{file}: {'not a file' if file.exists() else 'no such file'}")
    limit = get_settings().max_document_bytes
    try:
        if file.stat().st_size > limit:
            fail(f"{file} is larger than {limit} bytes (DOCPROC_MAX_DOCUMENT_BYTES)")
        return file.read_bytes(), limit
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")


def _embedded(data: bytes, limit: int) -> bool:
    """Whether the pipeline would read the PDF's embedded e-invoice instead (SPEC 2.4)."""
    if not data.startswith(b"%PDF-"):
        return False
    from docproc.formats.einvoice import read_einvoice

    return not read_einvoice(data, max_bytes=limit).problems


def _unreadable(file: Path, problem: Any, as_json: bool) -> NoReturn:
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "path": str(file),
                    "verdict": {
                        "status": "rejected",
                        "reasons": [str(problem.reason)],
                        "problems": [{"reason": str(problem.reason), "detail": problem.detail}],
                    },
                },
                indent=2,
            )
        )
    else:
        from rich.text import Text

        console.print(Text(f"{file}: {problem.reason}: {problem.detail}", style="bold red"))
    raise typer.Exit(EXIT_REJECTED)


def _nearest(templates: TemplateSet, text: str) -> list[Template]:
    """The templates that came closest: fewest keywords missing, then most present."""
    scored = []
    for t in templates.templates:
        missing = len(t.missing_keywords(text))
        if missing < len(t.keywords):
            scored.append((missing, missing - len(t.keywords), t.name, t))
    return [t for *_, t in sorted(scored, key=lambda s: s[:3])[:CANDIDATES]]


def _describe(t: Template) -> dict[str, Any]:
    return {
        "name": t.name,
        "origin": t.origin,
        "priority": t.priority,
        "issuer": t.issuer,
        "keywords": list(t.keywords),
        "exclude_keywords": list(t.exclude_keywords),
    }


def _candidate(t: Template, text: str) -> dict[str, Any]:
    return {
        **_describe(t),
        "missing_keywords": list(t.missing_keywords(text)),
        "excluded_by": list(t.excluded_by(text)),
    }


def _plain(value: Any) -> Any:
    """A field value as JSON: dates as ISO text, everything else as invoice2data typed it."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _verdict(verdict: Invoice | Rejection) -> dict[str, Any]:
    from docproc.inspection import _cell
    from docproc.models import Rejection

    if isinstance(verdict, Rejection):
        return {
            "status": "rejected",
            "reasons": [str(r) for r in verdict.reasons],
            "problems": [{"reason": str(p.reason), "detail": p.detail} for p in verdict.problems],
        }
    names = ("invoice_id", "invoice_date", "seller", "seller_tax_id", "buyer", "issuer_key",
             "currency", "amount", "tax_total", "total", "due_date", "profile")  # fmt: skip
    return {
        "status": "valid",
        "values": {n: _cell(getattr(verdict, n)) for n in names},
        "items": len(verdict.items),
    }


def _show(
    file: Path,
    fmt: Any,
    text: str,
    embedded: bool,
    matched: Template | None,
    used: Template | None,
    fields: dict[str, Any],
    error: str | None,
    candidates: list[Template],
    *,
    text_of: str,
) -> None:
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    if embedded:
        console.print(
            Text(
                f"{file} embeds an e-invoice: the pipeline reads that, not its pages "
                "(SPEC 2.4). Its pages are shown here all the same.",
                style="yellow",
            )
        )
    body = Text(text.replace("\f", "\n── page break ──\n").rstrip() or "(no text)")
    console.print(
        Panel(body, title=f"{file}: the text as the templates see it ({fmt})", expand=False)
    )
    if matched is not None:
        console.print(
            Text.assemble("matched: ", (matched.name, "bold green"), f" ({matched.origin})")
        )
    else:
        console.print(Text("no template matches this text", style="bold red"))
        if candidates:
            near = Table("template", "from", "missing keywords", "excluded by",
                         title="the nearest templates", title_justify="left")  # fmt: skip
            for t in candidates:
                near.add_row(
                    Text(t.name),
                    t.origin,
                    Text(", ".join(repr(k) for k in t.missing_keywords(text_of)) or "-"),
                    Text(", ".join(repr(k) for k in t.excluded_by(text_of)) or "-"),
                )
            console.print(near)
    if used is not None and used is not matched:
        console.print(
            Text.assemble("applied: ", (used.name, "bold"), " (as asked, although it ")
            + Text(
                "matches)"
                if used.matches(text_of)
                else f"does not match: missing {list(used.missing_keywords(text_of))}, "
                f"excluded by {list(used.excluded_by(text_of))})"
            )
        )
    if error is not None:
        console.print(Text(f"the template fails: {error}", style="bold red"))
    if used is None:
        return
    table = Table("field", "value", title=f"fields given by {used.name}", title_justify="left")
    for name, value in fields.items():
        if name == "lines" and isinstance(value, list):
            continue
        table.add_row(Text(name), Text(_shown(value)))
    console.print(table)
    lines = fields.get("lines")
    if isinstance(lines, list) and lines:
        columns = list(dict.fromkeys(k for line in lines if isinstance(line, dict) for k in line))
        items = Table(*columns, title=f"lines ({len(lines)})", title_justify="left")
        for line in lines:
            if isinstance(line, dict):
                items.add_row(*(Text(_shown(line.get(c, ""))) for c in columns))
        console.print(items)


def _shown(value: Any) -> str:
    plain = _plain(value)
    return plain if isinstance(plain, str) else json.dumps(plain, ensure_ascii=False)


def _show_verdict(verdict: Invoice | Rejection) -> None:
    from rich.table import Table
    from rich.text import Text

    summary = _verdict(verdict)
    if summary["status"] == "valid":
        table = Table("field", "value", title="docproc would load", title_justify="left")
        for name, value in summary["values"].items():
            table.add_row(name, Text("" if value is None else value))
        table.add_row("items", str(summary["items"]))
        console.print(table)
        return
    table = Table("reason", "detail", title="docproc would reject it for", title_justify="left")
    for problem in summary["problems"]:
        table.add_row(problem["reason"], Text(problem["detail"]))
    console.print(table)
