"""The commands that run the pipeline: process, backfill, reconcile, validate."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from docproc.cli.common import (
    EXIT_OK,
    EXIT_REJECTED,
    console,
    fail,
    in_process_run,
    load_settings,
    prefect_defaults,
)
from docproc.cli.options import Force, OlderThan, Replace
from docproc.models import Outcome
from docproc.summary import STATUSES, Summary

if TYPE_CHECKING:
    from docproc.reconcile import Report as ReconcileReport


def print_outcome(outcome: Outcome) -> None:
    colours = {"loaded": "green", "skipped": "cyan", "duplicate": "cyan", "rejected": "yellow"}
    colour = colours.get(outcome.status, "red")
    console.print(f"[bold {colour}]{outcome.status}[/] {outcome.uri}: {outcome.message}")
    if outcome.output:
        console.print(f"  output: {outcome.output}")


def process(
    uri: Annotated[str, typer.Argument(help="The document, as s3://bucket/key.")],
    force: Force = False,
    replace: Replace = False,
) -> None:
    """Run the `process-invoice` flow once on one S3 object and print what happened.

    Runs against PREFECT_API_URL, or a temporary local Prefect API when it is unset.
    Exit status: 0 loaded or skipped, 1 rejected or failed, 2 bad URI or missing object.
    """
    load_settings()
    bucket, key = require_object(uri)
    outcome = run_process(bucket, key, force=force, replace=replace)
    print_outcome(outcome)
    ok = {"loaded", "skipped", "duplicate"}
    raise typer.Exit(EXIT_OK if outcome.status in ok else EXIT_REJECTED)


def require_object(uri: str) -> tuple[str, str]:
    """Check the URI and the object before spending seconds on starting Prefect."""
    from botocore.exceptions import BotoCoreError, ClientError

    from docproc import storage
    from docproc.errors import ObjectMissing
    from tasks import resources

    try:
        bucket, key = storage.parse_s3_uri(uri)
        if not key:
            raise ValueError(f"no object key in {uri!r} (expected s3://bucket/key)")
        storage.require(resources.s3(), bucket, key)
    except (ValueError, ObjectMissing) as exc:
        fail(str(exc))
    except (BotoCoreError, ClientError) as exc:
        fail(f"cannot read {uri}: {exc}", EXIT_REJECTED)
    return bucket, key


def run_process(bucket: str, key: str, *, force: bool = False, replace: bool = False) -> Outcome:
    """Run the flow in this process and turn whatever it ended with into an Outcome."""
    prefect_defaults()
    from flows.process_invoice import process_invoice

    with in_process_run():
        state = process_invoice(bucket, key, force=force, replace=replace, return_state=True)
    result = state.result(raise_on_failure=False)
    if isinstance(result, Outcome):
        return result
    from docproc.models import Status

    return Outcome(Status.FAILED, f"s3://{bucket}/{key}", f"{type(result).__name__}: {result}")


def backfill(
    uri: Annotated[str, typer.Argument(help="The prefix, as s3://bucket/prefix.")],
    force: Force = False,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Documents per batch (default DOCPROC_BATCH_SIZE, else 200-500, sized to "
            "the prefix).",
            min=1,
            max=1000,
        ),
    ] = None,
    fan_out: Annotated[
        int,
        typer.Option(
            help="Run the batches as up to N child runs of the backfill-batch deployment, "
            "on the workers of its work pool (0: all in this process).",
            min=0,
        ),
    ] = 0,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Only the versions recorded with this status (rejected, loaded, duplicate), "
            "processed again; or `pending`: those `reconcile` calls pending.",
        ),
    ] = None,
    reasons: Annotated[
        list[str] | None,
        typer.Option(
            "--reason",
            help="With --status rejected: only those rejected for this code (repeatable).",
        ),
    ] = None,
    older_than: OlderThan = 300,
    replace: Replace = False,
) -> None:
    """Run the `backfill-prefix` flow over every object under an S3 prefix.

    Shows progress while it runs and a summary at the end. Versions already in the
    `documents` table are skipped unless --force. With --status, only the versions of
    that outcome are processed again, e.g. `--status rejected --reason words_mismatch`
    after a rule was corrected. Exit status: 0 nothing rejected or failed, 1 some
    were, 2 bad URI, missing bucket or bad --status.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from docproc import storage
    from docproc.errors import ObjectMissing
    from tasks import resources

    load_settings()
    check_selection(status, reasons)
    try:
        bucket, prefix = storage.parse_s3_uri(uri)
        with storage.bucket_required(bucket):
            resources.s3().head_bucket(Bucket=bucket)
    except (ValueError, ObjectMissing) as exc:
        fail(str(exc))
    except ClientError as exc:
        fail(f"cannot read s3://{bucket}: {exc}", EXIT_REJECTED)
    except BotoCoreError as exc:
        fail(f"cannot reach S3: {exc}", EXIT_REJECTED)
    selection = Selection(status, reasons or [], older_than)
    summary = run_backfill(
        bucket,
        prefix,
        force=force,
        batch_size=batch_size,
        fan_out=fan_out,
        selection=selection,
        replace=replace,
    )
    print_summary(summary)
    raise typer.Exit(EXIT_OK if summary.ok else EXIT_REJECTED)


@dataclass(frozen=True)
class Selection:
    """`backfill --status S [--reason CODE]...`: which recorded outcome to process again."""

    status: str | None = None
    reasons: list[str] = field(default_factory=list)
    older_than: float = 300


def check_selection(status: str | None, reasons: list[str] | None) -> None:
    from docproc.reconcile import SELECTABLE

    if status is not None and status not in SELECTABLE:
        fail(f"--status {status}: expected one of {', '.join(SELECTABLE)}")
    if reasons and status not in {"rejected", "duplicate"}:
        fail("--reason selects among rejected versions: add --status rejected")


def run_backfill(
    bucket: str,
    prefix: str,
    *,
    force: bool,
    batch_size: int | None,
    fan_out: int = 0,
    selection: Selection | None = None,
    replace: bool = False,
) -> Summary:
    """The flow in this process, with a progress bar fed by its batches."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    prefect_defaults()
    from flows.backfill import backfill_prefix, watching

    columns = (
        TextColumn("[bold]backfill[/]"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} listed"),
        TextColumn("{task.fields[counts]}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("backfill", total=None, counts="", rate="")

        def show(summary: Summary, total: int) -> None:
            counts = " ".join(f"{s} {summary.statuses[s]}" for s in STATUSES)
            counts += f" conflicts {summary.conflicts} suspects {summary.suspects}"
            rate = f"{summary.docs_per_second:.0f} docs/s"
            progress.update(bar, total=total, completed=summary.listed, counts=counts, rate=rate)

        with watching(show), in_process_run():
            chosen = selection or Selection()
            state = backfill_prefix(
                bucket,
                prefix,
                force,
                batch_size,
                fan_out,
                status=chosen.status,
                reasons=chosen.reasons or None,
                older_than_seconds=chosen.older_than,
                replace=replace,
                return_state=True,
            )
    result = state.result(raise_on_failure=False)
    if isinstance(result, Summary):
        return result
    fail(f"the backfill failed: {type(result).__name__}: {result}", EXIT_REJECTED)


def print_summary(summary: Summary) -> None:
    from rich.table import Table

    table = Table(title=f"{summary.listed} objects listed in {summary.seconds:.1f} s")
    table.add_column("status")
    table.add_column("objects", justify="right")
    for status in STATUSES:
        table.add_row(status, str(summary.statuses[status]))
    table.add_row("conflicts held", str(summary.conflicts))
    table.add_row("suspects flagged", str(summary.suspects))
    table.add_row("docs/s", f"{summary.docs_per_second:.0f}", style="dim")
    console.print(table)
    if summary.reasons:
        reasons = Table("reason code", "documents", title="rejections")
        for reason, count in summary.reasons.most_common():
            reasons.add_row(reason, str(count))
        console.print(reasons)
    for uri, error in summary.failures:
        console.print(f"[red]failed[/] {uri}: {error}")


def reconcile(
    uri: Annotated[str, typer.Argument(help="The prefix, as s3://bucket/prefix.")],
    older_than: OlderThan = 300,
    process: Annotated[
        bool,
        typer.Option("--process", help="Run the pending versions through the backfill."),
    ] = False,
) -> None:
    """Compare the listing with the `documents` table: processed, rejected, pending.

    Prints how many versions are processed (by status, and rejected by reason) and
    names the pending ones: no row, uploaded more than --older-than seconds ago, e.g.
    a notification SNS gave up on or a run that crashed. Exit status: 0 nothing
    pending, 1 some are (with --process: as `backfill`'s), 2 bad URI or missing bucket.
    """
    from datetime import UTC, datetime, timedelta

    from botocore.exceptions import BotoCoreError, ClientError
    from sqlalchemy.exc import SQLAlchemyError

    from docproc import reconcile as core
    from docproc import storage
    from docproc.errors import DocprocError
    from tasks import resources

    load_settings()
    try:
        bucket, prefix = storage.parse_s3_uri(uri)
        report = core.reconcile(
            core.list_versions(resources.s3(), bucket, prefix),
            core.recorded_in(resources.engine()),
            now=datetime.now(UTC),
            older_than=timedelta(seconds=older_than),
        )
    except (ValueError, DocprocError) as exc:  # a bad URI, no bucket, tables to upgrade
        fail(str(exc))
    except (BotoCoreError, ClientError) as exc:
        fail(f"cannot list {uri}: {exc}", EXIT_REJECTED)
    except SQLAlchemyError as exc:
        fail(f"cannot read the documents table: {getattr(exc, 'orig', None) or exc}", 1)
    print_reconcile(report, f"s3://{bucket}/{prefix}")
    if not report.lagging:
        raise typer.Exit(EXIT_OK)
    if not process:
        raise typer.Exit(EXIT_REJECTED)
    console.print(f"processing the {len(report.pending)} pending versions:")
    selection = Selection("pending", [], older_than)
    summary = run_backfill(bucket, prefix, force=False, batch_size=None, selection=selection)
    print_summary(summary)
    raise typer.Exit(EXIT_OK if summary.ok else EXIT_REJECTED)


def print_reconcile(report: ReconcileReport, uri: str) -> None:
    from rich.table import Table

    table = Table(title=f"{report.listed} versions listed under {uri}")
    table.add_column("outcome")
    table.add_column("versions", justify="right")
    for status, count in sorted(report.by_status.items()):
        table.add_row(f"processed: {status}", str(count))
    for reason, count in sorted(report.by_reason.items()):
        table.add_row(f"  rejected for {reason}", str(count), style="dim")
    table.add_row("too recent to tell", str(report.recent))
    table.add_row("pending", str(len(report.pending)), style="bold red" if report.pending else "")
    console.print(table)
    for v in report.pending:
        console.print(f"[red]pending[/] {v.ref.uri} (ETag {v.ref.etag})", soft_wrap=True)


def validate(
    files: Annotated[list[Path], typer.Argument(help="Local documents, in any format.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts.")] = False,
) -> None:
    """Read and validate local files as the pipeline would, with no S3, database or Prefect.

    Prints each file's format, the values it would load and every reason it would be
    rejected for. Duplicates, conflicts and suspects are not shown: they are judged
    against the loaded invoices, and validate has no database.
    Exit status: 0 all valid, 1 any rejected, 2 a file that cannot be read.
    """
    import json

    from docproc.errors import DocprocError
    from docproc.inspection import check, render
    from docproc.pdfoptions import pdf_options
    from docproc.settings import get_settings

    load_settings()
    limit = get_settings().max_document_bytes
    try:
        pdf = pdf_options(get_settings())
    except DocprocError as exc:
        fail(str(exc))
    reports = []
    for path in files:
        if not path.is_file():
            fail(f"{path}: {'not a file' if path.exists() else 'no such file'}")
        try:
            size = path.stat().st_size
            data = path.read_bytes() if size <= limit else None
        except OSError as exc:
            fail(f"cannot read {path}: {exc.strerror or exc}")
        reports.append(check(str(path), data, size, limit, pdf, get_settings().official_rules))
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in reports], indent=2, ensure_ascii=False))
    else:
        for report in reports:
            render(report, console)
    raise typer.Exit(EXIT_OK if all(r.accepted for r in reports) else EXIT_REJECTED)
