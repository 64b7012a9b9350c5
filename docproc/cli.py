"""`python -m docproc`: one command per verb; Prefect is imported only inside the commands."""

from __future__ import annotations

import atexit
import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from collections.abc import Callable

    from docproc.provision import Clients, Step
    from docproc.reconcile import Report as ReconcileReport

from docproc.models import Outcome
from docproc.summary import STATUSES, Summary

app = typer.Typer(
    name="docproc",
    help="Load invoice documents from S3 into MySQL and export them as CSV, with Prefect.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    errors.print(f"[bold red]error:[/] {message}", soft_wrap=True)  # one line, however long
    raise typer.Exit(code)


def prefect_defaults() -> None:
    """Defaults for the Prefect server a command may start, where Prefect's do not fit.

    Its local server phones home at start; nothing here may reach the internet. Without
    PREFECT_API_URL, Prefect gives its temporary server 20 s to start: on a busy 2-core
    machine (`make test`) that was not enough, and the command died with a traceback.
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


@contextmanager
def in_process_run() -> Iterator[None]:
    """Around a flow the command runs in its own process: without heartbeats
    (`flows.commands`), and Prefect's temporary server that did not start in one line
    rather than a traceback."""
    from flows.commands import without_heartbeats

    try:
        with without_heartbeats():
            yield
    except RuntimeError as exc:
        if "ephemeral Prefect API server" not in str(exc):
            raise
        fail(
            f"{exc} Set PREFECT_API_URL to a running Prefect server (or raise "
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)."
        )


def load_settings() -> None:
    """Fail with one line, not a validation traceback, on a malformed variable."""
    from pydantic import ValidationError

    from docproc.settings import get_settings

    try:
        get_settings()
    except ValidationError as exc:
        fail("; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors()))


def print_outcome(outcome: Outcome) -> None:
    colours = {"loaded": "green", "skipped": "cyan", "duplicate": "cyan", "rejected": "yellow"}
    colour = colours.get(outcome.status, "red")
    console.print(f"[bold {colour}]{outcome.status}[/] {outcome.uri}: {outcome.message}")
    if outcome.output:
        console.print(f"  output: {outcome.output}")


@app.command("init-db")
def init_db() -> None:
    """Create docproc's tables in DOCPROC_DATABASE_URL, or upgrade them in place, rows kept.

    A database already at the current schema version is left alone.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from docproc import migrations
    from docproc.loader import make_engine
    from docproc.settings import get_settings

    load_settings()
    engine = make_engine(get_settings().database_url.get_secret_value())
    where = engine.url.render_as_string(hide_password=True)
    try:
        done = migrations.upgrade(engine)
    except SQLAlchemyError as exc:
        fail(
            f"cannot create or upgrade the tables in {where}: {getattr(exc, 'orig', None) or exc}",
            1,
        )
    except ImportError as exc:
        fail(f"cannot reach {where}: {exc}", 1)
    rows = ", ".join(f"{n} {name}" for name, n in done.rows.items())
    if done.before is None:
        what = f"created at schema version {done.after}"
    elif done.changed:
        what = f"upgraded from schema version {done.before} to {done.after}, rows kept: {rows}"
    else:
        what = f"already at schema version {done.after}, nothing to do ({rows})"
    console.print(f"tables {', '.join(done.rows)} ready in {where}: {what}", soft_wrap=True)


@app.command()
def process(
    uri: Annotated[str, typer.Argument(help="The document, as s3://bucket/key.")],
    force: Annotated[
        bool, typer.Option("--force", help="Process again even if this version was done.")
    ] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="A document with other values under a loaded invoice number replaces it "
            "instead of being held as a conflict (as DOCPROC_DUPLICATE_POLICY=replace); "
            "processes done versions again, as --force does.",
        ),
    ] = False,
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


@app.command()
def backfill(
    uri: Annotated[str, typer.Argument(help="The prefix, as s3://bucket/prefix.")],
    force: Annotated[
        bool, typer.Option("--force", help="Process again the versions already done.")
    ] = False,
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
    older_than: Annotated[
        int,
        typer.Option(
            help="With --status pending: seconds since upload to count as pending.", min=0
        ),
    ] = 300,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="A document with other values under a loaded invoice number replaces it "
            "instead of being held as a conflict (as DOCPROC_DUPLICATE_POLICY=replace); "
            "processes done versions again, as --force does.",
        ),
    ] = False,
) -> None:
    """Run the `backfill-prefix` flow over every object under an S3 prefix.

    Shows progress while it runs and a summary at the end. Versions already in the
    `documents` table are skipped unless --force. With --status, only the versions of
    that outcome are processed again, e.g. `--status rejected --reason words_mismatch`
    after a rule was corrected. Exit status: 0 nothing rejected or failed, 1 some
    were, 2 bad URI, missing bucket or bad --status.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from docproc import aws, storage
    from docproc.errors import ObjectMissing
    from tasks import resources

    load_settings()
    check_selection(status, reasons)
    try:
        bucket, prefix = storage.parse_s3_uri(uri)
        resources.s3().head_bucket(Bucket=bucket)
    except ValueError as exc:
        fail(str(exc))
    except ClientError as exc:
        if aws.is_missing(exc):
            fail(str(ObjectMissing(f"bucket s3://{bucket} does not exist")))
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


@app.command()
def reconcile(
    uri: Annotated[str, typer.Argument(help="The prefix, as s3://bucket/prefix.")],
    older_than: Annotated[
        int,
        typer.Option(
            "--older-than",
            help="Seconds since upload after which a version with no row is pending "
            "(a younger one may still be on its way).",
            min=0,
        ),
    ] = 300,
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


@app.command()
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

    from docproc.inspection import check, render
    from docproc.settings import get_settings

    load_settings()
    limit = get_settings().max_document_bytes
    reports = []
    for path in files:
        if not path.is_file():
            fail(f"{path}: {'not a file' if path.exists() else 'no such file'}")
        try:
            size = path.stat().st_size
            data = path.read_bytes() if size <= limit else None
        except OSError as exc:
            fail(f"cannot read {path}: {exc.strerror or exc}")
        reports.append(check(str(path), data, size, limit))
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in reports], indent=2, ensure_ascii=False))
    else:
        for report in reports:
            render(report, console)
    raise typer.Exit(EXIT_OK if all(r.accepted for r in reports) else EXIT_REJECTED)


@app.command()
def demo() -> None:
    """Run the chain on embedded defaults: a local S3 emulator, SQLite, Prefect's local API.

    Uploads the sample invoice, processes it, shows the loaded rows and the CSV,
    and stops everything it started. Set DOCPROC_DATABASE_URL to use MySQL instead.
    """
    from docproc.demo import run_demo

    load_settings()
    raise typer.Exit(run_demo(console))


Host = Annotated[str, typer.Option("--host", help="Address to listen on.")]
Port = Annotated[int, typer.Option("--port", help="Port to listen on; SNS POSTs to /sns.")]


@app.command()
def serve(
    host: Host = "127.0.0.1",
    port: Port = 8080,
    poll_seconds: Annotated[
        float, typer.Option(help="How often the runner looks for runs to start (latency).")
    ] = 0.5,
    prefect_port: Annotated[
        int | None, typer.Option(help="Port of the local Prefect server, when one is started.")
    ] = None,
    prefect_database: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="Database of the local Prefect server, e.g. "
            "postgresql+asyncpg://user:pw@host:5432/prefect (an empty database: Prefect "
            "creates its tables). Default: PREFECT_SERVER_DATABASE_CONNECTION_URL, else "
            "SQLite in PREFECT_HOME, which keeps bursts of uploads waiting.",
        ),
    ] = None,
) -> None:
    """Run the webhook and a runner of the deployments together, until Ctrl-C.

    Uses PREFECT_API_URL, or starts a local Prefect server (and prints its UI address).
    """
    prefect_defaults()
    load_settings()
    from deployments.local_server import check_database
    from deployments.serve import serve as run_serve

    if prefect_database:
        try:
            check_database(prefect_database)
        except ValueError as exc:
            fail(f"--prefect-database {exc}")
    run_serve(host, port, poll_seconds, prefect_port, prefect_database=prefect_database)


@app.command()
def webhook(host: Host = "127.0.0.1", port: Port = 8080) -> None:
    """Run the SNS webhook alone; it hands objects to the Prefect API at PREFECT_API_URL."""
    prefect_defaults()
    load_settings()
    import uvicorn

    from deployments.handover import PrefectHandOver
    from deployments.serve import log_to_console, webhook_app

    try:
        hand_over = PrefectHandOver()
    except ValueError as exc:
        fail(str(exc))
    console.print(f"webhook: http://{host}:{port}/sns")
    log_to_console()
    uvicorn.run(webhook_app(hand_over), host=host, port=port, log_level="warning")


@app.command()
def provision(
    webhook_url: Annotated[
        str | None,
        typer.Option("--webhook-url", help="Where SNS should POST, e.g. https://host/sns."),
    ] = None,
    topic_name: Annotated[str, typer.Option(help="SNS topic for the source bucket's events.")] = (
        "docproc-source-events"
    ),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and change nothing.")
    ] = False,
    iam_policy: Annotated[
        bool,
        typer.Option(
            "--iam-policy",
            help="Print the least-privilege IAM policies (webhook's role, workers' role) "
            "as JSON, and create nothing.",
        ),
    ] = False,
    topic_arn: Annotated[
        str | None,
        typer.Option(
            help="With --iam-policy: the topic's ARN, when its account cannot be read (STS)."
        ),
    ] = None,
) -> None:
    """Create the buckets, SNS topic, topic policy, bucket notification and subscription.

    Idempotent: reads what exists first and changes only what differs; a second run
    says "nothing to change". Works against AWS or any endpoint (AWS_ENDPOINT_URL).
    With --iam-policy, prints instead the IAM policies for the webhook's and the
    workers' roles, from the configured buckets, prefixes and topic.
    """
    from docproc import provision as prov
    from tasks import resources

    load_settings()
    if iam_policy:
        print_iam_policies(topic_name, topic_arn)
        return
    if webhook_url is None:
        fail("--webhook-url is required (or --iam-policy)")
    config = resources.settings()
    url = webhook_url

    def plan(clients: prov.Clients) -> list[prov.Step]:
        return prov.plan(
            clients,
            source_bucket=config.source_bucket,
            target_bucket=config.target_bucket,
            webhook_url=url,
            topic_name=topic_name,
        )

    run_plan(plan, dry_run=dry_run, nothing="everything is provisioned")


def print_iam_policies(topic_name: str, topic_arn: str | None) -> None:
    """Both policy documents as one JSON object, `webhook` and `workers`, for scripts."""
    import json

    from docproc import iam
    from docproc import provision as prov
    from tasks import resources

    config = resources.settings()
    if topic_arn is None:
        try:
            session, client_params = resources.aws_session()
            clients = prov.make_clients(session, client_params=client_params)
            topic_arn = iam.topic_arn(clients, topic_name)
        except ValueError as exc:
            fail(str(exc))
        except prov.ProvisionError as exc:
            fail(str(exc), EXIT_REJECTED)
    documents = iam.policies(
        topic_arn=topic_arn,
        source_bucket=config.source_bucket,
        target_bucket=config.target_bucket,
        export_prefix=config.export_prefix,
        reject_prefix=config.reject_prefix,
    )
    typer.echo(json.dumps(documents, indent=2))


@app.command()
def deprovision(
    webhook_url: Annotated[
        str, typer.Option("--webhook-url", help="The URL `provision` subscribed.")
    ],
    topic_name: Annotated[str, typer.Option(help="SNS topic `provision` created.")] = (
        "docproc-source-events"
    ),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and change nothing.")
    ] = False,
    delete_buckets: Annotated[
        bool,
        typer.Option(
            "--delete-buckets",
            help="Delete the source and target buckets too; refused if either holds objects.",
        ),
    ] = False,
) -> None:
    """Undo `provision` in reverse order: subscription, bucket notification, topic policy, topic.

    Idempotent: a second run says "nothing to change". Only docproc's parts go; the
    buckets stay unless --delete-buckets, and a bucket that holds objects is never
    deleted (exit status 1, nothing changed).
    """
    from docproc import deprovision as teardown
    from docproc import provision as prov
    from tasks import resources

    load_settings()
    config = resources.settings()

    def plan(clients: prov.Clients) -> list[prov.Step]:
        return teardown.plan_teardown(
            clients,
            source_bucket=config.source_bucket,
            target_bucket=config.target_bucket,
            webhook_url=webhook_url,
            topic_name=topic_name,
            delete_buckets=delete_buckets,
        )

    run_plan(plan, dry_run=dry_run, nothing="nothing of docproc's is provisioned")


def run_plan(plan: Callable[[Clients], list[Step]], *, dry_run: bool, nothing: str) -> None:
    """Plan against the configured AWS, print the steps, apply them unless `dry_run`:
    what `provision` and `deprovision` share (a refused step exits 1, bad input 2)."""
    from docproc import provision as prov
    from tasks import resources

    try:
        session, client_params = resources.aws_session()
        clients = prov.make_clients(session, client_params=client_params)
        steps = plan(clients)
    except ValueError as exc:
        fail(str(exc))
    except prov.ProvisionError as exc:
        fail(str(exc), EXIT_REJECTED)
    if not steps:
        console.print(f"nothing to change: {nothing}")
        return
    console.print(f"{'plan' if dry_run else 'applying'} ({len(steps)} steps):")
    for step in steps:
        console.print(f"  - {step.description}")
    if dry_run:
        return
    try:
        prov.apply(clients, steps)
    except prov.ProvisionError as exc:
        fail(str(exc), EXIT_REJECTED)
    console.print("[green]done[/]")


def main(prog_name: str = "docproc") -> None:
    """The command line, ended without the interpreter's last garbage collections.

    They walk every object of Prefect's import once more, 0.6 s of each command (a
    one-document backfill took 3.1 s, 2.5 s without); the operating system frees the
    memory all the same. Registered first, the freeze runs after every other exit
    handler (Prefect's log and event workers drain theirs before it).
    """
    atexit.register(gc.freeze)
    app(prog_name=prog_name)
