"""`report vat` and `report spend` (SPEC section 12): the loaded invoices summed per month."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from docproc.cli.common import EXIT_OK, EXIT_REJECTED, console, fail, load_settings

if TYPE_CHECKING:
    import pandas as pd

app = typer.Typer(
    name="report",
    help="Sums of the loaded invoices per month: input VAT by rate, spend per issuer.",
    no_args_is_help=True,
)

From = Annotated[
    str | None,
    typer.Option("--from", metavar="DATE", help="First invoice date included (YYYY-MM-DD)."),
]
To = Annotated[
    str | None,
    typer.Option("--to", metavar="DATE", help="Last invoice date included (YYYY-MM-DD)."),
]
Issuer = Annotated[
    str | None, typer.Option("--issuer", metavar="KEY", help="Only this issuer_key's invoices.")
]
Csv = Annotated[
    Path | None,
    typer.Option("--csv", metavar="FILE", help="Also write the table as CSV (UTF-8, header)."),
]


@app.command("vat")
def vat(start: From = None, end: To = None, issuer: Issuer = None, csv: Csv = None) -> None:
    """Taxable amounts and VAT per month, currency, tax category and rate.

    What a VAT return's input-tax line needs; credit notes count negative. A text
    invoice's taxes appear under their kind (SGST, CGST, ...) with no rate.
    """
    run("vat", start, end, issuer, csv)


@app.command("spend")
def spend(start: From = None, end: To = None, issuer: Issuer = None, csv: Csv = None) -> None:
    """Totals per month, issuer and currency; credit notes count negative."""
    run("spend", start, end, issuer, csv)


def run(
    report: str, start: str | None, end: str | None, issuer: str | None, csv: Path | None
) -> None:
    """Read, print, write the CSV. Exit status: 0 done, 1 the database or the file
    failed, 2 a bad date or tables to upgrade."""
    from sqlalchemy.exc import SQLAlchemyError

    from docproc import reports
    from docproc.errors import DocprocError
    from tasks import resources

    first, last = day("--from", start), day("--to", end)
    if first and last and first > last:
        fail(f"--from {first} is after --to {last}")
    load_settings()
    read = reports.vat if report == "vat" else reports.spend
    try:
        frame = read(resources.engine(), first, last, issuer)
    except DocprocError as exc:  # tables of an earlier version
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"cannot read the invoices: {getattr(exc, 'orig', None) or exc}", EXIT_REJECTED)
    print_table(frame, reports.describe(report, first, last, issuer))
    if csv is not None:
        try:
            csv.write_bytes(reports.to_csv(frame))
        except OSError as exc:
            fail(f"cannot write {csv}: {exc.strerror or exc}", EXIT_REJECTED)
        console.print(f"{len(frame)} rows written to {csv}", soft_wrap=True)
    raise typer.Exit(EXIT_OK)


def day(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not a date (expected YYYY-MM-DD)")


def print_table(frame: pd.DataFrame, title: str) -> None:
    """Names come from the documents: shown as text, never read as Rich markup."""
    from rich.table import Table
    from rich.text import Text

    from docproc import reports

    numeric = {"rate", "taxable_amount", "tax_amount", "invoices", "total"}
    table = Table(title=Text(title))
    for column in frame.columns:
        table.add_column(column, justify="right" if column in numeric else "left")
    for row in reports.rows(frame):
        table.add_row(*(Text(v) for v in row))
    console.print(table)
    if frame.empty:
        console.print("no loaded invoice matches")
